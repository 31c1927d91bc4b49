import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';
import { authorize, countRows, pkcePair, signUpAccount, PASSWORD, type Agent } from '../support/flow.js';

/**
 * SECURITY.md A.8 — no implicit or password grant; each client has allow-lists of grant and
 * response types. Against a real Latch over HTTP: discovery, /auth, /token, /device/auth and
 * the registration endpoint, with the database looked at for anything issued or stored.
 */
describe('SECURITY A.8 — no implicit or password grant; per-client allow-lists of grant and response types', function () {
  let latch: TestLatch;
  const redirectUri = 'https://app.example.com/callback';
  const email = 'ada@example.com';
  const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
  let web: string; // public code-flow client that may refresh
  let machine: { clientId: string; clientSecret: string }; // client_credentials only
  let codeOnly: { clientId: string; clientSecret: string }; // authorization_code only

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch({ LATCH_REGISTRATION: 'open' });
    const clients = latch.container.clients;
    ({ clientId: web } = await clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] }));
    machine = (await clients.create({ name: 'Machine', grantTypes: ['client_credentials'] })) as typeof machine;
    codeOnly = (await clients.create({ name: 'Code only', redirectUris: [redirectUri], grantTypes: ['authorization_code'] })) as typeof codeOnly;
    await signUpAccount(latch, email);
  });
  after(() => latch.close());

  const tokenCount = async () => (await countRows(latch, 'oidc_payloads', { model: 'AccessToken' })) + (await countRows(latch, 'oidc_payloads', { model: 'ClientCredentials' }));
  const token = (auth: { clientId: string; clientSecret: string }, body: Record<string, string>) =>
    request(latch.url).post('/token').auth(auth.clientId, auth.clientSecret).type('form').send(body);
  function deviceRefused(res: request.Response) {
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('unauthorized_client');
    expect(res.body).not.to.have.property('device_code');
    expect(res.body).not.to.have.property('user_code');
  }
  /** Everything a redirect hands the client, in the query and in the fragment. */
  function handedOver(location: string): URLSearchParams {
    const url = new URL(location, latch.url);
    const all = new URLSearchParams(url.search);
    for (const [k, v] of new URLSearchParams(url.hash.slice(1))) all.append(k, v);
    return all;
  }

  it('discovery offers only the code response type and no implicit or password grant', async () => {
    const discovery = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
    expect(discovery.response_types_supported).to.deep.equal(['code']);
    expect(discovery.grant_types_supported).to.include('authorization_code');
    for (const grant of ['implicit', 'password']) expect(discovery.grant_types_supported).not.to.include(grant);
    const oauth = (await request(latch.url).get('/.well-known/oauth-authorization-server').expect(200)).body;
    expect(oauth.response_types_supported).to.deep.equal(['code']);
    for (const grant of ['implicit', 'password']) expect(oauth.grant_types_supported).not.to.include(grant);
  });

  for (const responseType of ['token', 'id_token token', 'id_token', 'code token', 'code id_token', 'code id_token token', 'none']) {
    it(`refuses response_type=${responseType} at /auth; no token, ID token or code reaches any redirect`, async () => {
      const before = await tokenCount();
      const interactions = await countRows(latch, 'oidc_payloads', { model: 'Interaction' });
      const { challenge } = pkcePair();
      for (const responseMode of [undefined, 'fragment', 'query']) {
        const res = await request(latch.url)
          .get('/auth')
          .query({ client_id: web, response_type: responseType, scope: 'openid', redirect_uri: redirectUri, state: 'st', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256', ...(responseMode ? { response_mode: responseMode } : {}) });
        const label = `${responseType} / ${responseMode ?? 'default mode'}`;
        if (res.headers.location) {
          expect(res.headers.location, label).to.match(/^https:\/\/app\.example\.com\/callback[?#]/);
          const params = handedOver(res.headers.location);
          expect(params.get('error'), label).to.be.oneOf(['unsupported_response_type', 'invalid_request', 'unauthorized_client']);
          for (const leaked of ['access_token', 'id_token', 'code', 'token_type']) expect(params.has(leaked), `${label}: ${leaked}`).to.equal(false);
        } else {
          expect(res.status, label).to.equal(400);
        }
        expect(res.text ?? '', label).not.to.match(/access_token|id_token=/);
      }
      expect(await tokenCount()).to.equal(before);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Interaction' })).to.equal(interactions);
    });
  }

  it('a signed-in browser asking for response_type=token still gets no token', async () => {
    const browser: Agent = request.agent(latch.url);
    await authorize(latch, browser, { clientId: web, redirectUri, email }); // signs in and consents
    const before = await tokenCount();
    const res = await browser.get('/auth').query({ client_id: web, response_type: 'token', scope: 'openid', redirect_uri: redirectUri, state: 'st', prompt: 'none' });
    const params = handedOver(res.headers.location ?? '/');
    expect(params.has('access_token')).to.equal(false);
    expect(params.has('code')).to.equal(false);
    expect(await tokenCount()).to.equal(before);
  });

  it('grant_type=password (with a real person\'s password) and grant_type=implicit are unsupported_grant_type', async () => {
    const before = await tokenCount();
    for (const auth of [machine, codeOnly]) {
      const password = await token(auth, { grant_type: 'password', username: email, password: PASSWORD, scope: 'openid' });
      expect(password.status).to.equal(400);
      expect(password.body.error).to.equal('unsupported_grant_type');
      expect(password.body).not.to.have.property('access_token');
      const implicit = await token(auth, { grant_type: 'implicit' });
      expect(implicit.body.error).to.equal('unsupported_grant_type');
    }
    const publicPassword = await request(latch.url).post('/token').type('form').send({ grant_type: 'password', client_id: web, username: email, password: PASSWORD });
    expect(publicPassword.body.error).to.equal('unsupported_grant_type');
    expect(await tokenCount()).to.equal(before);
  });

  it('a client_credentials-only client cannot use the code, refresh or device grants (unauthorized_client), nor /auth', async () => {
    const ok = await token(machine, { grant_type: 'client_credentials' });
    expect(ok.status, 'its own grant works').to.equal(200);
    const before = await tokenCount();
    const code = await token(machine, { grant_type: 'authorization_code', code: 'made-up', redirect_uri: redirectUri, code_verifier: pkcePair().verifier });
    expect(code.status).to.equal(400);
    expect(code.body.error).to.equal('unauthorized_client');
    const refresh = await token(machine, { grant_type: 'refresh_token', refresh_token: 'made-up' });
    expect(refresh.body.error).to.equal('unauthorized_client');
    const deviceCode = await token(machine, { grant_type: DEVICE_GRANT, device_code: 'made-up' });
    expect(deviceCode.body.error).to.equal('unauthorized_client');
    const deviceCodes = await countRows(latch, 'oidc_payloads', { model: 'DeviceCode' });
    const device = await request(latch.url).post('/device/auth').auth(machine.clientId, machine.clientSecret).type('form').send({ scope: 'openid' });
    deviceRefused(device);
    expect(await countRows(latch, 'oidc_payloads', { model: 'DeviceCode' })).to.equal(deviceCodes);
    const { challenge } = pkcePair();
    const auth = await request(latch.url).get('/auth').query({ client_id: machine.clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(auth.status).to.equal(400);
    expect(auth.headers).not.to.have.property('location');
    expect(await tokenCount()).to.equal(before);
  });

  it('a code-flow-only client cannot use client_credentials, refresh or device, and is never given a refresh token', async () => {
    const before = await tokenCount();
    const cc = await token(codeOnly, { grant_type: 'client_credentials' });
    expect(cc.status).to.equal(400);
    expect(cc.body.error).to.equal('unauthorized_client');
    expect(await tokenCount()).to.equal(before);
    const deviceCodes = await countRows(latch, 'oidc_payloads', { model: 'DeviceCode' });
    const device = await request(latch.url).post('/device/auth').auth(codeOnly.clientId, codeOnly.clientSecret).type('form').send({ scope: 'openid' });
    deviceRefused(device);
    expect(await countRows(latch, 'oidc_payloads', { model: 'DeviceCode' })).to.equal(deviceCodes);

    // its own grant works, but offline_access earns it no refresh token it could not use anyway
    const run = await authorize(latch, request.agent(latch.url), { clientId: codeOnly.clientId, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
    const tokens = await token(codeOnly, { grant_type: 'authorization_code', code: run.code!, redirect_uri: redirectUri, code_verifier: run.verifier });
    expect(tokens.status).to.equal(200);
    expect(tokens.body).not.to.have.property('refresh_token');
    const refresh = await token(codeOnly, { grant_type: 'refresh_token', refresh_token: 'made-up' });
    expect(refresh.body.error).to.equal('unauthorized_client');
  });

  describe('registration refuses implicit and password grants and token response types', () => {
    const base = { client_name: 'Registered', redirect_uris: [redirectUri] };
    const refused: Array<[string, Record<string, unknown>]> = [
      ['grant_types ["implicit"]', { grant_types: ['implicit'], response_types: ['code'] }],
      ['grant_types ["password"]', { grant_types: ['password'] }],
      ['grant_types with implicit beside the code grant', { grant_types: ['authorization_code', 'implicit'] }],
      ['response_types ["token"]', { response_types: ['token'], grant_types: ['implicit'] }],
      ['response_types ["token"] with the code grant', { response_types: ['token'] }],
      ['response_types ["id_token"]', { response_types: ['id_token'] }],
      ['response_types ["code id_token"]', { response_types: ['code id_token'] }],
      ['response_types ["code", "id_token token"]', { response_types: ['code', 'id_token token'] }],
    ];
    for (const [label, metadata] of refused) {
      it(`POST /reg with ${label} → 400 invalid_client_metadata, nothing stored`, async () => {
        const clients = await countRows(latch, 'clients');
        const res = await request(latch.url).post('/reg').send({ ...base, ...metadata });
        expect(res.status).to.equal(400);
        expect(res.body.error).to.equal('invalid_client_metadata');
        expect(res.body).not.to.have.property('client_id');
        expect(await countRows(latch, 'clients')).to.equal(clients);
      });
    }

    it('a registered client cannot add the implicit grant or a token response type later (RFC 7592)', async () => {
      const created = await request(latch.url).post('/reg').send(base).expect(201);
      expect(created.body.grant_types).to.deep.equal(['authorization_code']);
      expect(created.body.response_types).to.deep.equal(['code']);
      let rat = created.body.registration_access_token as string;
      const path = new URL(created.body.registration_client_uri).pathname;
      const current = { ...base, client_id: created.body.client_id, token_endpoint_auth_method: created.body.token_endpoint_auth_method, client_secret: created.body.client_secret };
      for (const change of [{ grant_types: ['implicit'] }, { grant_types: ['authorization_code', 'password'] }, { response_types: ['token'] }]) {
        const res = await request(latch.url).put(path).set('Authorization', `Bearer ${rat}`).send({ ...current, ...change });
        expect(res.status, JSON.stringify(change)).to.equal(400);
        expect(res.body.error).to.equal('invalid_client_metadata');
      }
      const stored = (await latch.container.queries.clients.find(created.body.client_id))!.metadata;
      expect(stored.grant_types).to.deep.equal(['authorization_code']);
      expect(stored.response_types).to.deep.equal(['code']);
      // control: a legitimate update goes through (and rotates the access token)
      const ok = await request(latch.url).put(path).set('Authorization', `Bearer ${rat}`).send({ ...current, client_name: 'Renamed' });
      expect(ok.status).to.equal(200);
      rat = ok.body.registration_access_token;
      expect(rat).to.be.a('string');
    });

    it('the admin service refuses the implicit and password grants too', async () => {
      const clients = await countRows(latch, 'clients');
      for (const grant of ['implicit', 'password']) {
        const err = await latch.container.clients.create({ name: 'Bad', redirectUris: [redirectUri], grantTypes: [grant as never] }).then(() => undefined, (e: unknown) => e as { status?: number; code?: string });
        expect(err, grant).to.include({ status: 400 });
      }
      expect(await countRows(latch, 'clients')).to.equal(clients);
    });
  });
});
