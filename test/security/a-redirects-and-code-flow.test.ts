import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';
import {
  authorize,
  countRows,
  interactionForm,
  introspect,
  latchPath,
  openSignIn,
  pkcePair,
  redeemCode,
  refresh,
  signUpAccount,
  tokensFor,
  xsrfFrom,
  type Agent,
} from '../support/flow.js';

/**
 * SECURITY.md part A — redirects and the code flow, against a real Latch over HTTP. The
 * browser is a supertest agent that follows Latch's redirects and fills its forms.
 */
describe('SECURITY A — redirects and the code flow', function () {
  let latch: TestLatch;
  const redirectUri = 'https://app.example.com/callback';
  const postLogoutUri = 'https://app.example.com/signed-out';
  const email = 'ada@example.com';
  let web: string; // public client
  let other: string; // another public client, same redirect URI
  let server: { clientId: string; clientSecret: string }; // confidential client
  let accountId: string;
  const REFRESH_ABSOLUTE_TTL = 600;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch({ LATCH_REFRESH_TOKEN_ABSOLUTE_TTL: String(REFRESH_ABSOLUTE_TTL) });
    const clients = latch.container.clients;
    ({ clientId: web } = await clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri], postLogoutRedirectUris: [postLogoutUri] }));
    ({ clientId: other } = await clients.create({ name: 'Other App', public: true, redirectUris: [redirectUri] }));
    server = (await clients.create({ name: 'Server App', redirectUris: [redirectUri] })) as { clientId: string; clientSecret: string };
    accountId = (await signUpAccount(latch, email)).id;
  });
  after(() => latch.close());

  const agent = (): Agent => request.agent(latch.url);
  const flow = (a: Agent, extra: Partial<Parameters<typeof authorize>[2]> = {}) =>
    authorize(latch, a, { clientId: web, redirectUri, email, ...extra });
  const { challenge } = pkcePair();
  const params = (extra: Record<string, string> = {}) => ({
    client_id: web,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  const errorOf = (res: request.Response) => new URL(res.headers.location!).searchParams.get('error');

  describe('SECURITY A.1 — exact redirect_uri match; only a native loopback port may vary', () => {
    const variants = [
      ['a trailing slash', `${redirectUri}/`],
      ['an extra query', `${redirectUri}?next=/admin`],
      ['an empty query', `${redirectUri}?`],
      ['a case change in the path', 'https://app.example.com/Callback'],
      ['a case change in the host', 'https://APP.example.com/callback'],
      ['a fragment', `${redirectUri}#frag`],
      ['a dot-dot segment', 'https://app.example.com/callback/../evil'],
      ['an encoded slash', 'https://app.example.com/callback%2F..%2Fevil'],
      ['user information', 'https://app.example.com@evil.example/callback'],
      ['http instead of https', 'http://app.example.com/callback'],
      ['another port', 'https://app.example.com:8443/callback'],
      ['another host', 'https://evil.example/callback'],
      ['a suffix on the host', 'https://app.example.com.evil.example/callback'],
      ['trailing whitespace', `${redirectUri} `],
    ] as const;
    for (const [label, uri] of variants) {
      it(`refuses ${label} (${uri}) with no Location and no interaction`, async () => {
        const interactions = await countRows(latch, 'oidc_payloads', { model: 'Interaction' });
        const res = await request(latch.url).get('/auth').query(params({ redirect_uri: uri }));
        expect(res.status).to.equal(400);
        expect(res.headers).not.to.have.property('location');
        expect(res.text).to.include('redirect_uri');
        expect(await countRows(latch, 'oidc_payloads', { model: 'Interaction' })).to.equal(interactions);
      });
    }

    it('lets only the port of a native client\'s loopback redirect vary', async () => {
      const { clientId } = await latch.container.clients.create({ name: 'CLI', public: true, applicationType: 'native', redirectUris: ['http://127.0.0.1/callback'] });
      const ok = await request(latch.url).get('/auth').query(params({ client_id: clientId, redirect_uri: 'http://127.0.0.1:53682/callback' }));
      expect(ok.status).to.equal(303);
      expect(ok.headers.location).to.match(/^\/interaction\//);
      for (const bad of ['http://127.0.0.1:53682/other', 'http://localhost:53682/callback', 'http://127.0.0.1:53682/callback?x=1', 'https://127.0.0.1:53682/callback']) {
        const res = await request(latch.url).get('/auth').query(params({ client_id: clientId, redirect_uri: bad }));
        expect(res.status, bad).to.equal(400);
        expect(res.headers, bad).not.to.have.property('location');
      }
      // a web client's registered URI has no such leeway
      const res = await request(latch.url).get('/auth').query(params({ redirect_uri: 'https://app.example.com:443/callback ' }));
      expect(res.status).to.equal(400);
    });
  });

  describe('SECURITY A.2 — a bad client or redirect_uri shows an error page, never a redirect', () => {
    const cases: Array<[string, Record<string, string | undefined>]> = [
      ['an unknown client', { client_id: 'no-such-client' }],
      ['no client_id', { client_id: undefined }],
      ['another client\'s redirect_uri', { redirect_uri: 'https://elsewhere.example/cb' }],
      ['a bad redirect_uri plus an unsupported response_type', { redirect_uri: 'https://evil.example/cb', response_type: 'token' }],
      ['a bad redirect_uri plus a missing PKCE challenge', { redirect_uri: 'https://evil.example/cb', code_challenge: undefined }],
      ['a javascript: redirect_uri', { redirect_uri: 'javascript:alert(1)' }],
    ];
    for (const [label, override] of cases) {
      it(`${label} → 400 HTML page, no Location`, async () => {
        const query = Object.fromEntries(Object.entries(params(override as Record<string, string>)).filter(([, v]) => v !== undefined));
        const res = await request(latch.url).get('/auth').query(query);
        expect(res.status).to.equal(400);
        expect(res.headers).not.to.have.property('location');
        expect(res.type).to.equal('text/html');
        expect(res.text).to.include('Something went wrong');
      });
    }
  });

  describe('SECURITY A.3 — PKCE S256 is required for every client, public or confidential', () => {
    it('discovery offers S256 only', async () => {
      const discovery = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
      expect(discovery.code_challenge_methods_supported).to.deep.equal(['S256']);
    });

    for (const kind of ['public', 'confidential'] as const) {
      it(`refuses a ${kind} client's request without a challenge, with plain, or with no method`, async () => {
        const client_id = kind === 'public' ? web : server.clientId;
        const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = params({ client_id });
        const requests = {
          'no challenge': noPkce,
          plain: params({ client_id, code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) }),
          'no method': { ...noPkce, code_challenge: challenge },
          'a malformed challenge': params({ client_id, code_challenge: 'short' }),
        };
        for (const [label, query] of Object.entries(requests)) {
          const res = await request(latch.url).get('/auth').query(query);
          expect(res.status, label).to.equal(303);
          const location = new URL(res.headers.location!);
          expect(location.origin + location.pathname, label).to.equal(redirectUri);
          expect(location.searchParams.get('error'), label).to.equal('invalid_request');
          expect(location.searchParams.has('code'), label).to.equal(false);
        }
      });
    }

    it('refuses a wrong or missing code_verifier at the token endpoint (public and confidential)', async () => {
      const a = agent();
      for (const auth of [{ clientId: web }, server]) {
        const run = await authorize(latch, a, { clientId: auth.clientId, redirectUri, email });
        const wrong = await redeemCode(latch, auth, run.code!, pkcePair().verifier, redirectUri);
        expect(wrong.status).to.equal(400);
        expect(wrong.body.error).to.equal('invalid_grant');
        const body = { grant_type: 'authorization_code', code: run.code!, redirect_uri: redirectUri };
        const missing = 'clientSecret' in auth
          ? await request(latch.url).post('/token').auth(auth.clientId, auth.clientSecret).type('form').send(body)
          : await request(latch.url).post('/token').type('form').send({ ...body, client_id: auth.clientId });
        expect(missing.status).to.equal(400);
        expect(missing.body.error).to.equal('invalid_grant');
        // the legitimate verifier still works: the code was bound to its challenge all along
        const right = await redeemCode(latch, auth, run.code!, run.verifier, redirectUri);
        expect(right.status).to.equal(200);
      }
    });
  });

  describe('SECURITY A.4 — no PKCE downgrade', () => {
    it('a code is never issued without a challenge, so there is none to redeem without one', async () => {
      const codes = await countRows(latch, 'oidc_payloads', { model: 'AuthorizationCode' });
      const a = agent();
      await authorize(latch, a, { clientId: web, redirectUri, email });
      const before = await countRows(latch, 'oidc_payloads', { model: 'AuthorizationCode' });
      expect(before).to.equal(codes + 1);
      const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = params();
      const res = await a.get('/auth').query({ ...noPkce, prompt: 'none' });
      expect(errorOf(res)).to.equal('invalid_request');
      expect(await countRows(latch, 'oidc_payloads', { model: 'AuthorizationCode' })).to.equal(before);
    });

    it('a code_verifier for a code that carries no challenge is refused', async () => {
      // a code stored without a challenge (as a PKCE-less request would have left it)
      const { provider } = latch.container;
      const client = (await provider.Client.find(web))!;
      const grant = new provider.Grant({ accountId, clientId: web });
      grant.addOIDCScope('openid');
      const grantId = await grant.save();
      const base = { client, accountId, grantId, gty: 'authorization_code', redirectUri, scope: 'openid', authTime: Math.floor(Date.now() / 1000) };
      const withoutChallenge = await new provider.AuthorizationCode(base).save();
      const res = await redeemCode(latch, { clientId: web }, withoutChallenge, pkcePair().verifier, redirectUri);
      expect(res.status).to.equal(400);
      expect(res.body.error).to.equal('invalid_grant');
      expect(res.body).not.to.have.property('access_token');
      // control: a code made the same way but with a challenge redeems with its verifier
      const pair = pkcePair();
      const withChallenge = await new provider.AuthorizationCode({ ...base, codeChallenge: pair.challenge, codeChallengeMethod: 'S256' }).save();
      expect((await redeemCode(latch, { clientId: web }, withChallenge, pair.verifier, redirectUri)).status).to.equal(200);
    });

    it('a code with a challenge is refused when the verifier is left out or wrong', async () => {
      const run = await flow(agent());
      const without = await request(latch.url).post('/token').type('form').send({ grant_type: 'authorization_code', code: run.code!, redirect_uri: redirectUri, client_id: web });
      expect(without.status).to.equal(400);
      expect(without.body.error).to.equal('invalid_grant');
      const almost = run.verifier.slice(0, -1) + (run.verifier.endsWith('A') ? 'B' : 'A');
      const wrong = await redeemCode(latch, { clientId: web }, run.code!, almost, redirectUri);
      expect(wrong.body.error).to.equal('invalid_grant');
    });
  });

  describe('SECURITY A.5 — codes are single-use, ≤ 60 s, bound to client and redirect_uri; replay revokes the grant', () => {
    it('a replayed code is refused and the tokens of the first redemption stop working', async () => {
      const a = agent();
      const { tokens, code, verifier } = await tokensFor(latch, a, { clientId: web, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
      expect(tokens.refresh_token).to.be.a('string');
      expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(true);
      const replay = await redeemCode(latch, { clientId: web }, code!, verifier, redirectUri);
      expect(replay.status).to.equal(400);
      expect(replay.body.error).to.equal('invalid_grant');
      expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(false);
      expect((await introspect(latch, { clientId: web }, tokens.refresh_token!)).active).to.equal(false);
      expect((await refresh(latch, { clientId: web }, tokens.refresh_token!)).body.error).to.equal('invalid_grant');
    });

    it('a code lives at most 60 seconds', async () => {
      const run = await flow(agent());
      const row = await latch.container.knex('oidc_payloads').where({ model: 'AuthorizationCode', id: run.code! }).first();
      const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { iat: number; exp: number };
      expect(payload.exp - payload.iat).to.be.at.most(60);
      expect(new Date(row.expires_at).getTime() - Date.now()).to.be.at.most(60_000);
    });

    it('a code is refused for another client and for another redirect_uri', async () => {
      const run = await flow(agent());
      const otherClient = await redeemCode(latch, { clientId: other }, run.code!, run.verifier, redirectUri);
      expect(otherClient.status).to.equal(400);
      expect(otherClient.body.error).to.equal('invalid_grant');
      const confidential = await redeemCode(latch, server, run.code!, run.verifier, redirectUri);
      expect(confidential.body.error).to.equal('invalid_grant');
      const otherUri = await redeemCode(latch, { clientId: web }, run.code!, run.verifier, `${redirectUri}/`);
      expect(otherUri.status).to.equal(400);
      expect(otherUri.body.error).to.equal('invalid_grant');
      for (const res of [otherClient, confidential, otherUri]) expect(res.body).not.to.have.property('access_token');
    });
  });

  describe('SECURITY A.6 — atomic consume: of 20 parallel redemptions exactly one succeeds', () => {
    it('20 parallel redemptions of one code → one 200, nineteen invalid_grant, and the grant is revoked', async () => {
      const run = await flow(agent(), { scope: 'openid offline_access', params: { prompt: 'consent' } });
      const results = await Promise.all(Array.from({ length: 20 }, () => redeemCode(latch, { clientId: web }, run.code!, run.verifier, redirectUri)));
      const ok = results.filter((r) => r.status === 200);
      expect(ok, results.map((r) => r.status).join(',')).to.have.length(1);
      for (const r of results.filter((x) => x.status !== 200)) {
        expect(r.status).to.equal(400);
        expect(r.body.error).to.equal('invalid_grant');
      }
      // the losers presented a used code: that is a replay, so the winner's tokens are revoked too
      expect((await introspect(latch, { clientId: web }, ok[0]!.body.access_token)).active).to.equal(false);
    });

    it('20 parallel refreshes of one refresh token → exactly one 200', async () => {
      const { tokens } = await tokensFor(latch, agent(), { clientId: web, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(latch, { clientId: web }, tokens.refresh_token!)));
      const ok = results.filter((r) => r.status === 200);
      expect(ok, results.map((r) => r.status).join(',')).to.have.length(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(r.body.error).to.equal('invalid_grant');
      expect((await refresh(latch, { clientId: web }, ok[0]!.body.refresh_token)).body.error).to.equal('invalid_grant');
    });
  });

  describe('SECURITY A.7 — refresh tokens rotate; reuse revokes the grant; absolute lifetime', () => {
    it('each refresh returns a new refresh token; reusing the old one revokes the whole grant', async () => {
      const { tokens } = await tokensFor(latch, agent(), { clientId: web, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
      const first = await refresh(latch, { clientId: web }, tokens.refresh_token!);
      expect(first.status).to.equal(200);
      expect(first.body.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
      expect((await introspect(latch, { clientId: web }, tokens.refresh_token!)).active).to.equal(false);

      const reuse = await refresh(latch, { clientId: web }, tokens.refresh_token!);
      expect(reuse.status).to.equal(400);
      expect(reuse.body.error).to.equal('invalid_grant');
      // the attacker's reuse ends the legitimate chain as well
      expect((await refresh(latch, { clientId: web }, first.body.refresh_token)).body.error).to.equal('invalid_grant');
      expect((await introspect(latch, { clientId: web }, first.body.access_token)).active).to.equal(false);
    });

    it(`a chain of rotated refresh tokens ends at the absolute lifetime (${REFRESH_ABSOLUTE_TTL} s here)`, async () => {
      const { tokens } = await tokensFor(latch, agent(), { clientId: web, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
      const first = await introspect(latch, { clientId: web }, tokens.refresh_token!);
      expect((first.exp as number) - (first.iat as number)).to.be.at.most(REFRESH_ABSOLUTE_TTL);
      let current = tokens.refresh_token!;
      for (let i = 0; i < 2; i++) {
        const next = await refresh(latch, { clientId: web }, current);
        expect(next.status).to.equal(200);
        current = next.body.refresh_token;
        const info = await introspect(latch, { clientId: web }, current);
        // rotation never pushes the end of the chain past the first token's
        expect(info.exp as number).to.be.at.most((first.exp as number) + 1);
      }
    });
  });

  describe('SECURITY A.9 — iss in authorization responses; the discovery issuer matches exactly', () => {
    it('success and error responses carry iss = ISSUER', async () => {
      const ok = await flow(agent());
      expect(ok.location.searchParams.get('iss')).to.equal(latch.issuer);
      expect(ok.location.searchParams.get('code')).to.be.a('string');
      const denied = await flow(agent(), { scope: 'openid profile', consent: 'deny', params: { prompt: 'consent' } });
      expect(denied.location.searchParams.get('error')).to.equal('access_denied');
      expect(denied.location.searchParams.get('iss')).to.equal(latch.issuer);
    });

    it('both discovery documents name exactly the issuer and announce the iss parameter', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const doc = (await request(latch.url).get(path).expect(200)).body;
        expect(doc.issuer, path).to.equal(latch.issuer);
        expect(doc.authorization_response_iss_parameter_supported, path).to.equal(true);
      }
    });
  });

  describe('SECURITY A.10 — redirects after a POST are 303', () => {
    it('sign-in, consent, cancel and sign-out answer their POST with 303 See Other', async () => {
      const a = agent();
      const run = await flow(a, { scope: 'openid email', params: { prompt: 'consent' } });
      expect(run.signedIn && run.consented).to.equal(true);
      const posts = run.responses.filter((r) => (r as unknown as { req: { method: string } }).req.method === 'POST');
      expect(posts).to.have.length(2);
      for (const res of posts) expect(res.status).to.equal(303);

      const { uid, csrf } = await openSignIn(latch, a, { clientId: web, redirectUri, params: { prompt: 'login' } });
      const abort = await a.post(`/interaction/${uid}/abort`).type('form').send({ _csrf: csrf });
      expect(abort.status).to.equal(303);

      const end = await a.get('/session/end').query({ client_id: web });
      const confirm = await a.post('/session/end/confirm').type('form').send({ xsrf: xsrfFrom(end.text), logout: 'yes' });
      expect(confirm.status).to.equal(303);
    });
  });

  describe('SECURITY A.12 — confidential clients authenticate at token, revocation and introspection; strict Basic', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const endpoints = {
      token: { path: '/token', body: () => ({ grant_type: 'authorization_code', code: 'bogus', redirect_uri: redirectUri, code_verifier: 'a'.repeat(43) }) },
      introspection: { path: '/token/introspection', body: () => ({ token: 'bogus' }) },
      revocation: { path: '/token/revocation', body: () => ({ token: 'bogus' }) },
    };
    const badAuth = (): Array<[string, (r: request.Test) => request.Test, Record<string, string>]> => [
      ['no authentication, client_id only', (r) => r, { client_id: server.clientId }],
      ['a wrong secret', (r) => r.auth(server.clientId, 'wrong-secret'), {}],
      ['the secret of another client', (r) => r.auth(server.clientId, server.clientSecret.slice(1)), {}],
      ['Basic with no credentials', (r) => r.set('Authorization', 'Basic'), {}],
      ['Basic that is not base64', (r) => r.set('Authorization', 'Basic !!!***'), {}],
      ['Basic with no colon', (r) => r.set('Authorization', `Basic ${b64(server.clientId)}`), {}],
      ['Basic with an empty secret', (r) => r.set('Authorization', `Basic ${b64(`${server.clientId}:`)}`), {}],
      ['Basic with bad percent-encoding', (r) => r.set('Authorization', `Basic ${b64(`${server.clientId}:%zz`)}`), {}],
      ['Basic with extra parts', (r) => r.set('Authorization', `Basic ${b64(`${server.clientId}:${server.clientSecret}`)} extra`), {}],
      ['Basic plus a body secret', (r) => r.auth(server.clientId, server.clientSecret), { client_secret: server.clientSecret }],
      ['a Bearer scheme', (r) => r.set('Authorization', `Bearer ${server.clientSecret}`), { client_id: server.clientId }],
    ];
    for (const [name, endpoint] of Object.entries(endpoints)) {
      it(`${name}: every bad or malformed authentication is refused; the right one passes`, async () => {
        for (const [label, authn, extra] of badAuth()) {
          const res = await authn(request(latch.url).post(endpoint.path)).type('form').send({ ...endpoint.body(), ...extra });
          expect(res.status, `${name}: ${label}`).to.be.oneOf([400, 401]);
          expect(res.body.error, `${name}: ${label}`).to.be.oneOf(['invalid_client', 'invalid_request']);
          expect(res.body, label).not.to.have.property('active');
        }
        const good = await request(latch.url).post(endpoint.path).auth(server.clientId, server.clientSecret).type('form').send(endpoint.body());
        if (name === 'token') expect(good.body.error).to.equal('invalid_grant');
        else expect(good.status).to.equal(200);
      });
    }

    it('a confidential client\'s refresh token is useless without its secret', async () => {
      const { tokens } = await tokensFor(latch, agent(), { clientId: server.clientId, clientSecret: server.clientSecret, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
      const res = await request(latch.url).post('/token').type('form').send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: server.clientId });
      expect(res.status).to.equal(401);
      expect(res.body.error).to.equal('invalid_client');
      const introspection = await request(latch.url).post('/token/introspection').type('form').send({ token: tokens.access_token, client_id: server.clientId });
      expect(introspection.status).to.equal(401);
      expect((await refresh(latch, server, tokens.refresh_token!)).status).to.equal(200);
    });
  });

  describe('SECURITY A.13 — consent is per client, and self-registered clients are marked', () => {
    it('consent to one client does not cover another, nor new scopes; it is remembered for the same ones', async () => {
      const grace = 'grace@example.com';
      await signUpAccount(latch, grace);
      const a = agent();
      const as = { clientId: web, redirectUri, email: grace, scope: 'openid email' };
      expect((await authorize(latch, a, as)).consented).to.equal(true);
      expect((await authorize(latch, a, as)).consented).to.equal(false);
      // remembered across browsers too, for this client only
      expect((await authorize(latch, agent(), as)).consented).to.equal(false);
      expect((await authorize(latch, a, { ...as, clientId: other })).consented).to.equal(true);
      expect((await authorize(latch, a, { ...as, scope: 'openid email profile' })).consented).to.equal(true);
      const consents = await latch.container.knex('consents').where({ account_id: (await latch.container.accounts.findByEmail(grace))!.id }).orderBy('client_id');
      expect(consents.map((c: { client_id: string }) => c.client_id).sort()).to.deep.equal([web, other].sort());
    });

    it('a person sees the apps they allowed and can revoke one, which ends that app\'s tokens only', async () => {
      const hopper = 'hopper@example.com';
      await signUpAccount(latch, hopper);
      const a = agent();
      const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email: hopper, scope: 'openid offline_access', params: { prompt: 'consent' } });
      const otherApp = await tokensFor(latch, a, { clientId: other, redirectUri, email: hopper });
      const list = (await a.get('/api/v1/consents').expect(200)).body as Array<{ clientId: string; name: string; dynamic: boolean }>;
      expect(list.map((c) => c.clientId).sort()).to.deep.equal([web, other].sort());
      expect(list.find((c) => c.clientId === web)).to.deep.include({ name: 'Web App', dynamic: false });

      // revoking is a state change: not from another site
      expect((await a.delete(`/api/v1/consents/${web}`).set('Origin', 'https://evil.example')).status).to.equal(403);
      expect((await a.delete(`/api/v1/consents/${web}`).set('Origin', latch.issuer)).status).to.equal(204);
      expect((await a.get('/api/v1/consents').expect(200)).body.map((c: { clientId: string }) => c.clientId)).to.deep.equal([other]);
      expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(false);
      expect((await refresh(latch, { clientId: web }, tokens.refresh_token!)).body.error).to.equal('invalid_grant');
      expect((await introspect(latch, { clientId: other }, otherApp.tokens.access_token)).active).to.equal(true);
      // the app must ask again
      expect((await authorize(latch, a, { clientId: web, redirectUri, email: hopper })).consented).to.equal(true);
    });

    it('the consent page of a dynamically registered client says it registered itself and from where', async () => {
      const reg = await request(latch.url).post('/reg').send({ client_name: 'Self Registered', redirect_uris: ['https://self.example.net/cb'], token_endpoint_auth_method: 'none' }).expect(201);
      const a = agent();
      const { uid, csrf } = await openSignIn(latch, a, { clientId: reg.body.client_id, redirectUri: 'https://self.example.net/cb' });
      const signIn = await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: 'correct horse battery staple', _csrf: csrf });
      let res = await a.get(latchPath(latch, signIn.headers.location!)!);
      res = await a.get(latchPath(latch, res.headers.location!)!);
      expect(interactionForm(res.text)?.step).to.equal('consent');
      expect(res.text).to.include('This app registered itself');
      expect(res.text).to.include('self.example.net');

      const admin = agent();
      const { uid: uid2, csrf: csrf2 } = await openSignIn(latch, admin, { clientId: other, redirectUri, scope: 'openid profile' });
      const s2 = await admin.post(`/interaction/${uid2}/login`).type('form').send({ email, password: 'correct horse battery staple', _csrf: csrf2 });
      let page = await admin.get(latchPath(latch, s2.headers.location!)!);
      page = await admin.get(latchPath(latch, page.headers.location!)!);
      expect(interactionForm(page.text)?.step).to.equal('consent');
      expect(page.text).not.to.include('registered itself');
    });
  });

  describe('SECURITY A.14 — RP-initiated logout needs id_token_hint or confirmation; exact post_logout_redirect_uri', () => {
    it('without id_token_hint it asks for confirmation and signs nobody out', async () => {
      const a = agent();
      await flow(a);
      const sessions = await countRows(latch, 'oidc_payloads', { model: 'Session', account_id: accountId });
      const res = await a.get('/session/end');
      expect(res.status).to.equal(200);
      expect(res.text).to.include('id="op.logoutForm"');
      expect(res.text).to.match(/<button[^>]+name="logout"[^>]*>Sign out<\/button>/);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Session', account_id: accountId })).to.equal(sessions);
      // still signed in: prompt=none gets a code
      const silent = await flow(a, { params: { prompt: 'none' } });
      expect(silent.code).to.be.a('string');

      // a confirmation without the page's xsrf token (e.g. from another site) changes nothing
      const forged = await a.post('/session/end/confirm').type('form').send({ logout: 'yes' });
      expect(forged.status).to.equal(400);
      expect((await flow(a, { params: { prompt: 'none' } })).code).to.be.a('string');
    });

    it('post_logout_redirect_uri must match exactly; a mismatch is an error page, not a redirect', async () => {
      const a = agent();
      const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email });
      for (const bad of [`${postLogoutUri}/`, `${postLogoutUri}?x=1`, 'https://evil.example/signed-out', 'https://app.example.com/Signed-out', redirectUri]) {
        const res = await a.get('/session/end').query({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: bad });
        expect(res.status, bad).to.equal(400);
        expect(res.headers, bad).not.to.have.property('location');
      }
      const page = await a.get('/session/end').query({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutUri, state: 'bye' });
      expect(page.status).to.equal(200);
      const done = await a.post('/session/end/confirm').type('form').send({ xsrf: xsrfFrom(page.text), logout: 'yes' });
      expect(done.status).to.equal(303);
      const location = new URL(done.headers.location!);
      expect(location.origin + location.pathname).to.equal(postLogoutUri);
      expect(location.searchParams.get('state')).to.equal('bye');
      // signed out: prompt=none now fails
      const silent = await flow(a, { params: { prompt: 'none' } });
      expect(silent.location.searchParams.get('error')).to.equal('login_required');
    });
  });
});
