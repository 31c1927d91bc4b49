import crypto from 'node:crypto';
import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { usingPostgres } from '../support/database.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { authParams, drive, pkcePair } from '../support/flow.js';
import { authorize, createPerson, signIn, testApp, type Person } from '../support/people.js';

/**
 * The key rotation drill (SECURITY.md G.43): a new signing key is published before it signs,
 * tokens signed before the rotation keep verifying against the JWKS until they expire, new
 * tokens carry the new kid, another instance on the same PostgreSQL follows without a restart,
 * and a cookie-key rotation keeps a signed-in browser signed in.
 */
const REFRESH_SECONDS = 4;

type Tokens = { access_token: string; refresh_token?: string; id_token?: string };
type ListedKey = { kid: string; use: string; alg: string; status: string; expiresAt: Date | null; activatesAt: Date | null };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, seconds = 6 * REFRESH_SECONDS): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const kidOf = (jwt: string) => jose.decodeProtectedHeader(jwt).kid;
const jwksOf = async (latch: TestLatch) => (await request(latch.url).get('/jwks').expect(200)).body as { keys: jose.JWK[] };

/** Verifies a token the way a resource server does: against the JWKS as published right now. */
async function verifyAgainstJwks(latch: TestLatch, jwt: string, audience: string) {
  const jwks = jose.createLocalJWKSet(await jwksOf(latch));
  return jose.jwtVerify(jwt, jwks, { issuer: latch.issuer, audience });
}

/** a cookie the supertest agent holds for Latch (superagent keeps them in a cookiejar) */
function cookieOf(agent: unknown, name: string): string | undefined {
  const jar = (agent as { jar: { getCookies(access: object): Array<{ name: string; value: string }> } }).jar;
  return jar.getCookies({ domain: 'localhost', path: '/', secure: false, script: false }).find((c) => c.name === name)?.value;
}

/** keygrip's signature of a cookie, as the `cookies` module writes it into `<name>.sig` */
const cookieSignature = (data: string, key: string) => crypto.createHmac('sha1', key).update(data).digest('base64url');

describe('signing and cookie key rotation', function () {
  this.timeout(120_000);
  let latch: TestLatch;
  let second: TestLatch | undefined;
  let app: { clientId: string; redirectUri: string };
  let agent: Awaited<ReturnType<typeof signIn>>['agent'];
  let earlier: Tokens;
  let api: string;
  let alice: Person;
  let oldKid: string;
  let newKid: string;

  const keysOf = async (l: TestLatch = latch) => (await l.container.keys.listKeys()) as ListedKey[];
  const currentKid = async (use: string, alg = 'ES256') => (await keysOf()).find((k) => k.use === use && k.status === 'current' && (use === 'cookie' || k.alg === alg))!.kid;
  const refresh = async (l: TestLatch, refreshToken: string): Promise<Tokens> => {
    const res = await request(l.url).post('/token').type('form').send({ grant_type: 'refresh_token', client_id: app.clientId, refresh_token: refreshToken, resource: api });
    if (res.status !== 200) throw new Error(`refresh failed: ${res.status} ${res.text}`);
    return res.body;
  };
  const whoami = (l: TestLatch, token: string) => request(l.url).get('/api/v1/whoami').set('Authorization', `Bearer ${token}`);

  before(async () => {
    latch = await startLatch({ LATCH_KEY_REFRESH_INTERVAL: String(REFRESH_SECONDS) });
    // with PostgreSQL, a second instance on the same database (behind the same issuer) that is never restarted
    if (usingPostgres()) second = await startLatch({ LATCH_KEY_REFRESH_INTERVAL: String(REFRESH_SECONDS), ISSUER: latch.issuer }, latch.db);
    api = latch.container.resources.latchApi.identifier;
    app = await testApp(latch);
    alice = await createPerson(latch, 'alice@example.com');
    ({ agent, tokens: earlier } = await signIn(latch, alice, app));
  });
  after(async () => {
    await second?.close();
    await latch?.close();
  });

  it('signs with the current ES256 key, which the JWKS publishes', async () => {
    oldKid = await currentKid('signing');
    expect(kidOf(earlier.access_token)).to.equal(oldKid);
    expect(kidOf(earlier.id_token!)).to.equal(oldKid);
    expect((await jwksOf(latch)).keys.map((k) => k.kid)).to.include(oldKid);
  });

  it('publishes the rotated-in key at once but keeps signing with the old one until it activates', async () => {
    // a browser that starts signing in on the Provider about to be replaced finishes on the new one
    const browser = request.agent(latch.url);
    const { challenge } = pkcePair();
    const started = await browser.get('/auth').query(authParams({ ...app, scope: 'openid email', params: { prompt: 'login' } }, challenge, 'mid-swap'));
    expect(started.status).to.equal(303);
    const replaced = latch.container.provider;

    const rotated = await latch.container.keys.rotate('sig');
    expect(rotated.map((k) => k.alg).sort()).to.deep.equal(['ES256', 'RS256']);
    newKid = rotated.find((k) => k.alg === 'ES256')!.kid;
    await latch.container.keyRefresh.runOnce();
    expect(latch.container.provider).to.not.equal(replaced);

    expect((await jwksOf(latch)).keys.map((k) => k.kid)).to.include.members([oldKid, newKid]);
    const minted = await refresh(latch, earlier.refresh_token!);
    expect((await keysOf()).find((k) => k.kid === newKid)!.status, 'the rotation activated before this check ran').to.equal('next');
    expect(kidOf(minted.access_token)).to.equal(oldKid);
    earlier = { ...earlier, refresh_token: minted.refresh_token };

    const finished = await drive(latch, browser, started, { email: alice.email, password: alice.password });
    expect(finished.location?.searchParams.get('code'), finished.last.text?.slice(0, 300)).to.be.a('string');
  });

  it('the other instance publishes the new key without a restart', async function () {
    if (!second) return this.skip();
    const other = second;
    await waitFor('the second instance to publish the new key', async () => (await jwksOf(other)).keys.some((k) => k.kid === newKid));
  });

  it('after activation, new tokens carry the new kid; tokens signed before still verify, and stay published until they expire', async () => {
    await waitFor('the new key to become current', async () => (await currentKid('signing')) === newKid);
    await waitFor('this instance to sign with it', async () => kidOf((await refresh(latch, earlier.refresh_token!).then((t) => (earlier = { ...earlier, refresh_token: t.refresh_token }, t))).access_token) === newKid);
    const after = await refresh(latch, earlier.refresh_token!);
    expect(kidOf(after.access_token)).to.equal(newKid);
    expect(kidOf(after.id_token!)).to.equal(newKid);

    // both verify against the published JWKS, and against Latch's own API
    const old = await verifyAgainstJwks(latch, earlier.access_token, api);
    expect(old.protectedHeader.kid).to.equal(oldKid);
    await verifyAgainstJwks(latch, after.access_token, api);
    await whoami(latch, earlier.access_token).expect(200);
    await whoami(latch, after.access_token).expect(200);

    const retiring = (await keysOf()).find((k) => k.kid === oldKid)!;
    expect(retiring.status).to.equal('retiring');
    const idTokenExp = jose.decodeJwt(earlier.id_token!).exp!;
    expect(new Date(retiring.expiresAt!).getTime()).to.be.at.least(Math.max(old.payload.exp!, idTokenExp) * 1000);

    if (second) {
      const other = second;
      await waitFor('the second instance to sign with the new key', async () => {
        const minted = await refresh(other, after.refresh_token!);
        after.refresh_token = minted.refresh_token;
        return kidOf(minted.access_token) === newKid;
      });
      await verifyAgainstJwks(other, earlier.access_token, api);
      await whoami(other, earlier.access_token).expect(200);
    }
  });

  it("the rebuilt provider keeps Latch's own grants: an API key exchanged for a JWT (RFC 8693) is signed with the new key", async () => {
    const exchangeGrant = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const rs = await latch.container.clients.create({ name: 'Resource server', grantTypes: ['client_credentials', exchangeGrant] });
    const resource = 'https://api.example.com';
    await latch.container.resources.add({ identifier: resource, scopes: ['read'] });
    const { key } = await latch.container.apiKeys.admin.create({ owner: alice.id, name: 'rotation', scopes: ['read'] });
    const res = await request(latch.url)
      .post('/token')
      .auth(rs.clientId, rs.clientSecret!)
      .type('form')
      .send({ grant_type: exchangeGrant, subject_token: key, subject_token_type: 'urn:latch:params:oauth:token-type:api-key', resource, scope: 'read' });
    expect(res.status, res.text).to.equal(200);
    expect(kidOf(res.body.access_token)).to.equal(newKid);
    await verifyAgainstJwks(latch, res.body.access_token, resource);
  });

  it('refuses to retire the current key, and an unknown one', async () => {
    const refused = await latch.container.keys.retire(newKid).catch((err) => err);
    expect(refused).to.include({ code: 'conflict' });
    expect(refused.message).to.match(/current signing key/);
    expect((await latch.container.keys.retire('no-such-kid').catch((err) => err)).code).to.equal('not_found');
    expect((await keysOf()).find((k) => k.kid === newKid)!.status).to.equal('current');
  });

  it('retires the old key once its last token has expired, and then it no longer verifies', async () => {
    const retiring = (await keysOf()).find((k) => k.kid === oldKid)!;
    // stands in for waiting out the token lifetime: the clock the job would see after it
    expect(await latch.container.keys.advance(new Date(new Date(retiring.expiresAt!).getTime() - 1000))).to.equal(false);
    expect(await latch.container.keys.advance(new Date(new Date(retiring.expiresAt!).getTime() + 1000))).to.equal(true);
    expect((await keysOf()).find((k) => k.kid === oldKid)!.status).to.equal('retired');
    await latch.container.keyRefresh.runOnce();
    expect((await jwksOf(latch)).keys.map((k) => k.kid)).to.not.include(oldKid);
    const failed = await verifyAgainstJwks(latch, earlier.access_token, api).catch((err) => err);
    expect(failed).to.be.instanceOf(jose.errors.JWKSNoMatchingKey);
    await whoami(latch, earlier.access_token).expect(401);
  });

  it('a cookie-key rotation keeps a signed-in browser signed in, re-signing its cookie with the new key', async () => {
    const oldCookieKid = await currentKid('cookie');
    const [rotated] = await latch.container.keys.rotate('cookie');
    await waitFor('the new cookie key to become current', async () => (await currentKid('cookie')) === rotated!.kid);
    // (on PostgreSQL the other instance may have activated it: load it here now rather than wait a tick)
    await latch.container.keyRefresh.runOnce();
    expect(latch.container.providerHost.cookieKeys).to.have.length(2);
    const [newCookieKey, oldCookieKey] = latch.container.providerHost.cookieKeys as [string, string];

    const res = await agent.get('/api/v1/whoami').expect(200);
    expect(res.body.authMethod).to.equal('session');
    // the session cookie was signed with the old key; reading it re-signed it with the new one
    const setCookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    expect(setCookies.some((c) => c.startsWith('_session.sig=')), 'the session cookie was not re-signed').to.equal(true);
    const session = cookieOf(agent, '_session');
    const sig = cookieOf(agent, '_session.sig');
    expect(sig).to.equal(cookieSignature(`_session=${session}`, newCookieKey));
    expect(sig).to.not.equal(cookieSignature(`_session=${session}`, oldCookieKey));

    // once the old cookie key is gone, the browser is still signed in, in the API and in the protocol
    const old = (await keysOf()).find((k) => k.kid === oldCookieKid)!;
    await latch.container.keys.advance(new Date(new Date(old.expiresAt!).getTime() + 1000));
    await latch.container.keyRefresh.runOnce();
    expect(latch.container.providerHost.cookieKeys).to.deep.equal([newCookieKey]);
    expect((await agent.get('/api/v1/whoami').expect(200)).body.authMethod).to.equal('session');
    const again = await authorize(latch, agent, alice, { ...app, scope: 'openid email api:read', resource: api, prompt: 'none' });
    expect(again.code).to.be.a('string');
    // and a new browser signs in through the hosted pages with cookies signed by the new key only
    const fresh = await authorize(latch, request.agent(latch.url), alice, { ...app, scope: 'openid email', prompt: 'consent' });
    expect(fresh.code).to.be.a('string');
  });
});
