import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** API keys seen by resource servers: RFC 7662 introspection and RFC 8693 token exchange. */
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const API_KEY_TYPE = 'urn:latch:params:oauth:token-type:api-key';
const API = 'https://api.example.com';
const OTHER = 'https://other.example.com';

describe('API keys: introspection and token exchange', () => {
  let latch: TestLatch;
  let alice: Person;
  let aliceToken: string;
  let orgA: string;
  let rs: { clientId: string; clientSecret: string };
  let orgKey: { id: string; key: string };
  let personalKey: { id: string; key: string };

  const createKey = async (path: string, body: object) =>
    (await request(latch.url).post(`/api/v1${path}`).set('Authorization', `Bearer ${aliceToken}`).send({ name: 'k', ...body }).expect(201)).body as { id: string; key: string };
  const introspect = (token: string, auth: { clientId: string; clientSecret?: string } = rs) => {
    const req = request(latch.url).post('/token/introspection').type('form');
    return auth.clientSecret ? req.auth(auth.clientId, auth.clientSecret).send({ token }) : req.send({ token, client_id: auth.clientId });
  };
  const exchange = (params: Record<string, string | string[]>, auth: { clientId: string; clientSecret?: string } = rs) => {
    const req = request(latch.url).post('/token').type('form');
    const body = { grant_type: EXCHANGE, subject_token_type: API_KEY_TYPE, ...params };
    return auth.clientSecret ? req.auth(auth.clientId, auth.clientSecret).send(body) : req.send({ ...body, client_id: auth.clientId });
  };

  before(async () => {
    latch = await startLatch();
    const app = await testApp(latch);
    alice = await createPerson(latch, 'alice@example.com');
    aliceToken = (await signIn(latch, alice, app)).tokens.access_token;
    orgA = (await request(latch.url).post('/api/v1/orgs').set('Authorization', `Bearer ${aliceToken}`).send({ name: 'Acme' }).expect(201)).body.id;
    await latch.container.resources.add({ identifier: API, scopes: ['read', 'manage'] });
    await latch.container.resources.add({ identifier: OTHER, scopes: ['read', 'write'] });
    const client = await latch.container.clients.create({ name: 'Resource server', grantTypes: ['client_credentials', EXCHANGE] });
    rs = { clientId: client.clientId, clientSecret: client.clientSecret! };
    orgKey = await createKey(`/orgs/${orgA}/api-keys`, { scopes: ['read', 'manage'], resource: API, labels: { project: '42', workspace: 'ops' }, expiresIn: '7d' });
    personalKey = await createKey('/api-keys', { scopes: ['read', 'write', 'api:read'] });
  });
  after(() => latch.close());

  describe('introspection (RFC 7662)', () => {
    it('answers a confidential client with active, scope, org_id, labels, exp, sub and token_type "api_key"', async () => {
      const res = await introspect(orgKey.key).expect(200);
      const row = await latch.container.knex('api_keys').where({ id: orgKey.id }).first();
      expect(res.body).to.deep.equal({
        active: true,
        token_type: 'api_key',
        sub: orgA,
        scope: 'read manage',
        org_id: orgA,
        labels: { project: '42', workspace: 'ops' },
        aud: API,
        iat: Math.floor(new Date(row.created_at).getTime() / 1000),
        exp: Math.floor(new Date(row.expires_at).getTime() / 1000),
        iss: latch.issuer,
        api_key_id: orgKey.id,
      });
      expect(res.headers['cache-control']).to.include('no-store');
      const personal = (await introspect(personalKey.key).expect(200)).body;
      expect(personal).to.include({ active: true, sub: alice.id, scope: 'read write api:read', token_type: 'api_key' });
      expect(personal).to.not.have.property('org_id');
      expect(personal.labels).to.deep.equal({});
    });

    it('answers inactive for a revoked, unknown or malformed key, and to a public client', async () => {
      const doomed = await createKey('/api-keys', { scopes: ['read'] });
      expect((await introspect(doomed.key).expect(200)).body.active).to.equal(true);
      await request(latch.url).delete(`/api/v1/api-keys/${doomed.id}`).set('Authorization', `Bearer ${aliceToken}`).expect(204);
      expect((await introspect(doomed.key).expect(200)).body).to.deep.equal({ active: false });
      for (const token of [`latch_${'z'.repeat(12)}_${'C'.repeat(43)}`, 'latch_nope', `${orgKey.key}x`]) {
        expect((await introspect(token).expect(200)).body, token).to.deep.equal({ active: false });
      }
      const spa = await latch.container.clients.create({ name: 'SPA', public: true, redirectUris: ['https://spa.example.com/cb'] });
      expect((await introspect(orgKey.key, { clientId: spa.clientId }).expect(200)).body).to.deep.equal({ active: false });
    });

    it('needs client authentication; a wrong secret learns nothing about the key', async () => {
      const none = await request(latch.url).post('/token/introspection').type('form').send({ token: orgKey.key }).expect(400);
      expect(none.body.error).to.equal('invalid_request');
      const wrong = await introspect(orgKey.key, { clientId: rs.clientId, clientSecret: 'wrong' }).expect(401);
      expect(wrong.body.error).to.equal('invalid_client');
      expect(JSON.stringify(wrong.body)).to.not.include(orgA);
    });
  });

  describe('token exchange (RFC 8693)', () => {
    let jwks: ReturnType<typeof jose.createRemoteJWKSet>;
    before(async () => {
      const discovery = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
      expect(discovery.grant_types_supported).to.include(EXCHANGE);
      jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri));
    });

    it('exchanges a key for a JWT for one resource that verifies against jwks_uri, with the right aud, scopes ⊆ the key’s, a short exp', async () => {
      const res = await exchange({ subject_token: orgKey.key, resource: API, scope: 'read' }).expect(200);
      expect(res.body).to.include({ token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', scope: 'read', expires_in: 300 });
      expect(res.body).to.not.have.property('refresh_token');
      const { payload, protectedHeader } = await jose.jwtVerify(res.body.access_token, jwks, { issuer: latch.issuer, audience: API, typ: 'at+jwt' });
      expect(protectedHeader.alg).to.equal('ES256');
      expect(payload).to.include({ sub: orgA, org_id: orgA, scope: 'read', client_id: rs.clientId, api_key_id: orgKey.id });
      expect(payload.labels).to.deep.equal({ project: '42', workspace: 'ops' });
      expect(payload.exp! - payload.iat!).to.be.within(1, 300);

      // without scope: every scope the key has for that resource
      const all = await exchange({ subject_token: orgKey.key, resource: API }).expect(200);
      expect(all.body.scope).to.equal('read manage');

      // a personal key: sub is the person; only the scopes the resource knows
      const personal = await exchange({ subject_token: personalKey.key, resource: OTHER }).expect(200);
      const claims = (await jose.jwtVerify(personal.body.access_token, jwks, { issuer: latch.issuer, audience: OTHER })).payload;
      expect(claims).to.include({ sub: alice.id, scope: 'read write' });
      expect(claims).to.not.have.property('org_id');
      expect(claims).to.not.have.property('org_role');
    });

    it('refuses wider scopes (invalid_scope) and another resource (invalid_target)', async () => {
      const wider = await exchange({ subject_token: orgKey.key, resource: API, scope: 'read admin' }).expect(400);
      expect(wider.body.error).to.equal('invalid_scope');
      const notForThisResource = await exchange({ subject_token: personalKey.key, resource: API, scope: 'write' }).expect(400);
      expect(notForThisResource.body.error).to.equal('invalid_scope');
      for (const resource of [OTHER, 'https://unknown.example.com', [API, OTHER]]) {
        const res = await exchange({ subject_token: orgKey.key, resource }).expect(400);
        expect(res.body.error, String(resource)).to.equal('invalid_target');
      }
      const none = await exchange({ subject_token: orgKey.key }).expect(400);
      expect(none.body.error).to.equal('invalid_target');
      // not for Latch's own API: there the key is used directly, and a person's bearer token could mint keys
      const latchApi = await exchange({ subject_token: personalKey.key, resource: `${latch.issuer}/api/v1` }).expect(400);
      expect(latchApi.body.error).to.equal('invalid_target');
    });

    it('refuses a revoked or expired key, a wrong token type, a public client, a client without the grant', async () => {
      const doomed = await createKey(`/orgs/${orgA}/api-keys`, { scopes: ['read'] });
      await exchange({ subject_token: doomed.key, resource: API }).expect(200);
      await request(latch.url).delete(`/api/v1/orgs/${orgA}/api-keys/${doomed.id}`).set('Authorization', `Bearer ${aliceToken}`).expect(204);
      const revoked = await exchange({ subject_token: doomed.key, resource: API }).expect(400);
      expect(revoked.body.error).to.equal('invalid_request');
      const expiring = await createKey('/api-keys', { scopes: ['read'] });
      await latch.container.knex('api_keys').where({ id: expiring.id }).update({ expires_at: new Date(Date.now() - 1000) });
      expect((await exchange({ subject_token: expiring.key, resource: API }).expect(400)).body.error).to.equal('invalid_request');

      const wrongType = await exchange({ subject_token: orgKey.key, resource: API, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }).expect(400);
      expect(wrongType.body.error).to.equal('invalid_request');
      await exchange({ subject_token: orgKey.key, resource: API, actor_token: 'x', actor_token_type: API_KEY_TYPE }).expect(400);

      const publicClient = await latch.container.clients.create({ name: 'CLI', public: true, grantTypes: [EXCHANGE] });
      const pub = await exchange({ subject_token: orgKey.key, resource: API }, { clientId: publicClient.clientId }).expect(400);
      expect(pub.body.error).to.equal('unauthorized_client');

      const m2m = await latch.container.clients.create({ name: 'M2M only', grantTypes: ['client_credentials'] });
      const notAllowed = await exchange({ subject_token: orgKey.key, resource: API }, { clientId: m2m.clientId, clientSecret: m2m.clientSecret! });
      expect(notAllowed.status).to.be.within(400, 401);
      expect(notAllowed.body).to.not.have.property('access_token');
      await exchange({ subject_token: orgKey.key, resource: API }, { clientId: rs.clientId, clientSecret: 'wrong' }).expect(401);
    });

    it('never outlives the key; malformed input is a 4xx OAuth error', async () => {
      const shortLived = await createKey('/api-keys', { scopes: ['read'], expiresIn: 120 });
      const res = await exchange({ subject_token: shortLived.key, resource: API }).expect(200);
      const claims = jose.decodeJwt(res.body.access_token);
      expect(claims.exp! - claims.iat!).to.be.at.most(120);

      const huge = 'x'.repeat(1024 * 1024);
      for (const params of [{ subject_token: huge, resource: API }, { subject_token: `latch_${huge}`, resource: API }, { subject_token: orgKey.key, resource: huge }, { subject_token: orgKey.key, resource: API, scope: huge }, { subject_token: [orgKey.key, orgKey.key], resource: API }]) {
        const bad = await exchange(params as Record<string, string>);
        expect(bad.status, JSON.stringify(params).slice(0, 60)).to.be.within(400, 499);
        expect(bad.body.error).to.be.a('string');
      }
      const bigIntrospection = await introspect(`latch_${huge}`);
      expect(bigIntrospection.status).to.be.within(200, 499);
      if (bigIntrospection.status === 200) expect(bigIntrospection.body).to.deep.equal({ active: false });
    });
  });
});
