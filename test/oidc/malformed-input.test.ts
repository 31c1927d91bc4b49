import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';

/**
 * Malformed, oversized and hostile requests to every protocol endpoint: each gets a 4xx with
 * an OAuth error body (or an error page where a browser is talking), never a 5xx, and nothing
 * is written.
 */
describe('malformed requests to protocol endpoints', () => {
  let latch: TestLatch;
  let clientId: string;
  let clientSecret: string;
  const huge = 'a'.repeat(10 * 1024 * 1024);

  before(async () => {
    latch = await startLatch();
    ({ clientId, clientSecret } = (await latch.container.clients.create({ name: 'M2M', grantTypes: ['client_credentials'] })) as { clientId: string; clientSecret: string });
  });
  after(() => latch.close());

  async function rowCounts() {
    const [payloads] = await latch.container.knex('oidc_payloads').count<{ count: number }[]>('* as count');
    const [clients] = await latch.container.knex('clients').count<{ count: number }[]>('* as count');
    return { payloads: Number(payloads!.count), clients: Number(clients!.count) };
  }

  function expectOAuthError(res: request.Response) {
    expect(res.status, res.text.slice(0, 200)).to.be.within(400, 499);
    expect(res.body, res.text.slice(0, 200)).to.have.property('error').that.is.a('string');
  }

  type Case = [label: string, send: () => request.Test];
  const basic = (value: string) => `Basic ${Buffer.from(value).toString('base64')}`;
  const tokenCases = (): Case[] => [
    ['JSON instead of a form', () => request(latch.url).post('/token').set('Content-Type', 'application/json').send('{"grant_type":"client_credentials"}')],
    ['broken JSON', () => request(latch.url).post('/token').set('Content-Type', 'application/json').send('{"grant_type":')],
    ['text/plain', () => request(latch.url).post('/token').set('Content-Type', 'text/plain').send('grant_type=client_credentials')],
    ['an empty form', () => request(latch.url).post('/token').type('form').send('')],
    ['an unknown grant type', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'password', username: 'a', password: 'b' })],
    ['the implicit grant type', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'implicit' })],
    ['a 10 MB body', () => request(latch.url).post('/token').type('form').send(`grant_type=client_credentials&scope=${huge}`)],
    ['an unknown client', () => request(latch.url).post('/token').auth('nobody', 'nothing').type('form').send({ grant_type: 'client_credentials' })],
    ['Basic with no colon', () => request(latch.url).post('/token').set('Authorization', basic('just-an-id')).type('form').send({ grant_type: 'client_credentials' })],
    ['Basic that is not base64', () => request(latch.url).post('/token').set('Authorization', 'Basic !!!***').type('form').send({ grant_type: 'client_credentials' })],
    ['Basic with bad percent-encoding', () => request(latch.url).post('/token').set('Authorization', basic('%zz:%zz')).type('form').send({ grant_type: 'client_credentials' })],
    ['an unknown auth scheme', () => request(latch.url).post('/token').set('Authorization', 'Digest abc').type('form').send({ grant_type: 'client_credentials' })],
    ['two client authentications', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret })],
    ['duplicated parameters', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send('grant_type=client_credentials&grant_type=client_credentials&scope=a&scope=b')],
    ['SQL in the client id', () => request(latch.url).post('/token').auth("x' OR '1'='1", 'y').type('form').send({ grant_type: 'client_credentials' })],
    ['a NUL byte in the client id', () => request(latch.url).post('/token').type('form').send({ grant_type: 'client_credentials', client_id: 'abc\u0000def' })],
    ['an invalid code', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'authorization_code', code: 'nope', redirect_uri: 'https://x.example/cb', code_verifier: 'a'.repeat(43) })],
    ['an invalid refresh token', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'refresh_token', refresh_token: '<script>' })],
    ['an invalid device code', () => request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: "'; DROP TABLE clients; --" })],
  ];
  const otherCases = (): Case[] => [
    ['registration: broken JSON', () => request(latch.url).post('/reg').set('Content-Type', 'application/json').send('{"redirect_uris": [')],
    ['registration: a JSON array', () => request(latch.url).post('/reg').set('Content-Type', 'application/json').send('[1,2,3]')],
    ['registration: a JSON string', () => request(latch.url).post('/reg').set('Content-Type', 'application/json').send('"hello"')],
    ['registration: a form', () => request(latch.url).post('/reg').type('form').send({ redirect_uris: 'https://x.example/cb' })],
    ['registration: wrong types', () => request(latch.url).post('/reg').send({ redirect_uris: 'https://x.example/cb', grant_types: 42 })],
    ['registration: a 10 MB client name', () => request(latch.url).post('/reg').send({ redirect_uris: ['https://x.example/cb'], client_name: huge })],
    ['registration: an unknown grant type', () => request(latch.url).post('/reg').send({ redirect_uris: ['https://x.example/cb'], grant_types: ['password'] })],
    ['registration: implicit', () => request(latch.url).post('/reg').send({ redirect_uris: ['https://x.example/cb'], grant_types: ['implicit'], response_types: ['token'] })],
    ['registration management: a bad token', () => request(latch.url).get('/reg/abc').set('Authorization', 'Bearer nope')],
    ['introspection: no client authentication', () => request(latch.url).post('/token/introspection').type('form').send({ token: 'x' })],
    ['introspection: a wrong secret', () => request(latch.url).post('/token/introspection').auth(clientId, 'wrong').type('form').send({ token: 'x' })],
    ['introspection: no token', () => request(latch.url).post('/token/introspection').auth(clientId, clientSecret).type('form').send({})],
    ['introspection: JSON', () => request(latch.url).post('/token/introspection').auth(clientId, clientSecret).set('Content-Type', 'application/json').send('{"token":"x"}')],
    ['revocation: no client authentication', () => request(latch.url).post('/token/revocation').type('form').send({ token: 'x' })],
    ['revocation: a 10 MB token', () => request(latch.url).post('/token/revocation').auth(clientId, clientSecret).type('form').send(`token=${huge}`)],
    ['device authorization: an unknown client', () => request(latch.url).post('/device/auth').type('form').send({ client_id: 'nobody' })],
    ['device authorization: a client without the grant', () => request(latch.url).post('/device/auth').auth(clientId, clientSecret).type('form').send({ scope: 'openid' })],
    ['userinfo: a bad bearer token', () => request(latch.url).get('/me').set('Authorization', 'Bearer not-a-token')],
    ['userinfo: no token', () => request(latch.url).get('/me')],
    ['PAR: an unknown client', () => request(latch.url).post('/request').type('form').send({ client_id: 'nobody', response_type: 'code' })],
    ['an unknown route', () => request(latch.url).post('/jwks').send({})],
  ];

  for (const [label, send] of [...tokenCases().map(([l, s]) => [`token: ${l}`, s] as Case), ...otherCases()]) {
    it(`${label} → 4xx with an OAuth error`, async () => {
      const before = await rowCounts();
      const res = await send();
      expectOAuthError(res);
      expect(await rowCounts()).to.deep.equal(before);
    });
  }

  it('authorization endpoint: duplicated parameters and a huge query → an error page, no 5xx', async () => {
    const dup = await request(latch.url).get(`/auth?client_id=${clientId}&client_id=${clientId}&response_type=code`);
    expect(dup.status).to.be.within(400, 499);
    const long = await request(latch.url).get(`/auth?client_id=${clientId}&state=${'x'.repeat(20000)}`);
    expect(long.status).to.be.within(400, 499);
  });

  it('end session: a forged id_token_hint → 4xx page', async () => {
    const res = await request(latch.url).get('/session/end').query({ id_token_hint: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' });
    expect(res.status).to.be.within(400, 499);
  });

  it('device code entry: a missing or wrong CSRF token → 4xx page', async () => {
    const res = await request(latch.url).post('/device').type('form').send({ user_code: 'BBBB-BBBB', xsrf: 'forged' });
    expect(res.status).to.be.within(400, 499);
  });

  it('interaction route: an unknown interaction id → 4xx page', async () => {
    const res = await request(latch.url).get('/interaction/does-not-exist');
    expect(res.status).to.equal(400);
    expect(res.type).to.equal('text/html');
  });
});

describe('NUL characters, which PostgreSQL cannot store', () => {
  let latch: TestLatch;
  before(async () => {
    latch = await startLatch();
  });
  after(() => latch.close());

  it('registration with a NUL in client_name → 400 invalid_request, nothing stored', async () => {
    const res = await request(latch.url).post('/reg').send({ redirect_uris: ['https://x.example/cb'], client_name: 'a\u0000b' });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.be.a('string');
    expect(await latch.container.clients.list()).to.have.length(0);
  });

  it('an authorization request with a NUL in state → 4xx, no 5xx', async () => {
    const { clientId } = await latch.container.clients.create({ name: 'Web', public: true, redirectUris: ['https://app.example.com/cb'] });
    const res = await request(latch.url).get('/auth').query({
      client_id: clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: 'https://app.example.com/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'x\u0000y',
    });
    expect(res.status).to.be.within(300, 499);
    if (res.status === 303) expect(new URL(res.headers.location!).searchParams.get('error')).to.equal('invalid_request');
  });
});
