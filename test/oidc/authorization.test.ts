import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';

/** The authorization endpoint's refusals (SECURITY.md A.1–A.3). */
describe('authorization endpoint', () => {
  let latch: TestLatch;
  let clientId: string;
  const redirectUri = 'https://app.example.com/callback';
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

  before(async () => {
    latch = await startLatch();
    ({ clientId } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri] }));
  });
  after(() => latch.close());

  const params = (extra: Record<string, string> = {}) => ({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    state: 'xyz',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });

  it('sends a valid request on to Latch\'s own interaction route', async () => {
    const res = await request(latch.url).get('/auth').query(params()).expect(303);
    expect(res.headers.location!).to.match(/^\/interaction\/[\w-]+$/);
  });

  it('refuses a request without PKCE (public client)', async () => {
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = params();
    const res = await request(latch.url).get('/auth').query(noPkce).expect(303);
    const location = new URL(res.headers.location!);
    expect(location.origin + location.pathname).to.equal(redirectUri);
    expect(location.searchParams.get('error')).to.equal('invalid_request');
    expect(location.searchParams.get('iss')).to.equal(latch.issuer);
  });

  it('refuses a request without PKCE from a confidential client too', async () => {
    const confidential = await latch.container.clients.create({ name: 'Server App', redirectUris: [redirectUri] });
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = params({ client_id: confidential.clientId });
    const res = await request(latch.url).get('/auth').query(noPkce).expect(303);
    expect(new URL(res.headers.location!).searchParams.get('error')).to.equal('invalid_request');
  });

  it('refuses code_challenge_method=plain', async () => {
    const res = await request(latch.url).get('/auth').query(params({ code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) })).expect(303);
    expect(new URL(res.headers.location!).searchParams.get('error')).to.equal('invalid_request');
  });

  it('refuses implicit and hybrid response types', async () => {
    for (const responseType of ['token', 'id_token', 'code id_token', 'code token']) {
      const res = await request(latch.url).get('/auth').query(params({ response_type: responseType, nonce: 'n' }));
      expect(res.status, responseType).to.be.oneOf([303, 400]);
      const location = res.status === 303 ? new URL(res.headers.location!) : undefined;
      const error = location ? (location.searchParams.get('error') ?? new URLSearchParams(location.hash.slice(1)).get('error')) : 'rendered';
      expect(error, responseType).to.be.oneOf(['unsupported_response_type', 'invalid_request', 'rendered']);
    }
  });

  const badRedirects = [
    `${redirectUri}/`,
    `${redirectUri}?extra=1`,
    redirectUri.toUpperCase(),
    'https://APP.example.com/Callback',
    `${redirectUri}#frag`,
    'https://app.example.com/callback/../evil',
    'https://app.example.com@evil.example/callback',
    'http://app.example.com/callback',
    'https://app.example.com:8443/callback',
    'https://evil.example/callback',
  ];
  for (const bad of badRedirects) {
    it(`refuses redirect_uri ${bad} with an error page and no redirect`, async () => {
      const res = await request(latch.url).get('/auth').query(params({ redirect_uri: bad }));
      expect(res.status).to.equal(400);
      expect(res.headers).not.to.have.property('location');
      expect(res.text).to.include('redirect_uri');
    });
  }

  it('refuses an unknown client with an error page and no redirect', async () => {
    const res = await request(latch.url).get('/auth').query(params({ client_id: 'no-such-client' }));
    expect(res.status).to.equal(400);
    expect(res.headers).not.to.have.property('location');
    expect(res.type).to.equal('text/html');
  });

  it('escapes what it echoes on its error page', async () => {
    const res = await request(latch.url).get('/auth').query(params({ client_id: '<script>alert(1)</script>' }));
    expect(res.status).to.equal(400);
    expect(res.text).not.to.include('<script>alert(1)</script>');
  });

  it('sends the browser to the sign-in page, which names the app; the interaction is bound to that browser', async () => {
    const agent = request.agent(latch.url);
    const start = await agent.get('/auth').query(params()).expect(303);
    const page = await agent.get(start.headers.location!).expect(200);
    expect(page.text).to.include('<label for="email">Email</label>');
    expect(page.text).to.include('<label for="password">Password</label>');
    expect(page.text).to.include('Web App');
    expect(page.headers['cache-control']).to.equal('no-store');
    // another browser (no interaction cookie) cannot use the same interaction id
    const stranger = await request(latch.url).get(start.headers.location!);
    expect(stranger.status).to.equal(400);
  });
});
