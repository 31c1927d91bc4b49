import { expect } from 'chai';
import request from 'supertest';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** API keys over /api/v1: the three header forms, refusals (401/403/404), storage, last use, rotation. */
describe('API keys: Latch API', () => {
  let latch: TestLatch;
  let alice: Person;
  let bob: Person;
  let aliceToken: string;
  let bobToken: string;
  let orgA: string;
  let orgB: string;

  const bearer = (token: string) => ({
    get: (path: string) => request(latch.url).get(`/api/v1${path}`).set('Authorization', `Bearer ${token}`),
    post: (path: string, body: object = {}) => request(latch.url).post(`/api/v1${path}`).set('Authorization', `Bearer ${token}`).send(body),
    patch: (path: string, body: object = {}) => request(latch.url).patch(`/api/v1${path}`).set('Authorization', `Bearer ${token}`).send(body),
    delete: (path: string) => request(latch.url).delete(`/api/v1${path}`).set('Authorization', `Bearer ${token}`),
  });
  const withKey = (key: string) => ({
    get: (path: string) => request(latch.url).get(`/api/v1${path}`).set('X-API-Key', key),
    post: (path: string, body: object = {}) => request(latch.url).post(`/api/v1${path}`).set('X-API-Key', key).send(body),
    patch: (path: string, body: object = {}) => request(latch.url).patch(`/api/v1${path}`).set('X-API-Key', key).send(body),
    delete: (path: string) => request(latch.url).delete(`/api/v1${path}`).set('X-API-Key', key),
  });
  const row = (id: string) => latch.container.knex('api_keys').where({ id }).first();
  const countKeys = async () => Number((await latch.container.knex('api_keys').count<{ count: string }[]>('* as count'))[0]!.count);

  async function newKey(token: string, body: object = {}, path = '/api-keys') {
    const res = await bearer(token).post(path, { name: 'test key', scopes: ['api:read', 'api:write'], ...body }).expect(201);
    return res.body as { id: string; key: string; prefix: string; scopes: string[] };
  }

  before(async () => {
    latch = await startLatch();
    const app = await testApp(latch);
    alice = await createPerson(latch, 'alice@example.com');
    bob = await createPerson(latch, 'bob@example.com');
    aliceToken = (await signIn(latch, alice, app)).tokens.access_token;
    bobToken = (await signIn(latch, bob, app)).tokens.access_token;
    orgA = (await bearer(aliceToken).post('/orgs', { name: 'Acme' }).expect(201)).body.id;
    orgB = (await bearer(bobToken).post('/orgs', { name: 'Bobco' }).expect(201)).body.id;
    // bob is a plain member of Acme
    await latch.container.queries.orgs.insertMembership({ org_id: orgA, account_id: bob.id, role: 'member' });
  });
  after(() => latch.close());

  it('works in each header form; whoami says authMethod "api-key" with the key’s scopes and organization', async () => {
    const personal = await newKey(aliceToken);
    expect(personal.key).to.match(/^latch_[a-z0-9]{12}_[A-Za-z0-9]{43}$/);
    expect(personal.key.startsWith(personal.prefix)).to.equal(true);
    const expected = { sub: alice.id, authMethod: 'api-key', scopes: ['api:read', 'api:write'], orgId: null };
    for (const [header, value] of [['Authorization', `Bearer ${personal.key}`], ['Authorization', `ApiKey ${personal.key}`], ['X-API-Key', personal.key]] as const) {
      const res = await request(latch.url).get('/api/v1/whoami').set(header, value).expect(200);
      expect(res.body, `${header}: ${value.split(' ')[0]}`).to.deep.equal(expected);
    }
    // a personal key acts for its person
    expect((await withKey(personal.key).get('/me').expect(200)).body.email).to.equal(alice.email);

    const orgKey = await newKey(aliceToken, { scopes: ['api:read'] }, `/orgs/${orgA}/api-keys`);
    const res = await request(latch.url).get('/api/v1/whoami').set('Authorization', `ApiKey ${orgKey.key}`).expect(200);
    expect(res.body).to.deep.equal({ sub: orgA, authMethod: 'api-key', scopes: ['api:read'], orgId: orgA });
  });

  it('a revoked, expired, malformed, unknown or wrong key gets 401 with one and the same error', async () => {
    const revoked = await newKey(aliceToken);
    await bearer(aliceToken).delete(`/api-keys/${revoked.id}`).expect(204);
    const expired = await newKey(aliceToken);
    await latch.container.knex('api_keys').where({ id: expired.id }).update({ expires_at: new Date(Date.now() - 1000) });
    const live = await newKey(aliceToken);
    const wrongSecret = `${live.prefix}_${'A'.repeat(43)}`;
    const unknown = `latch_${'q'.repeat(12)}_${'B'.repeat(43)}`;
    const malformed = ['latch_', 'latch_short', `${live.key}x`, `${live.key.slice(0, -1)}!`, 'not-a-key', ' ', `latch_${'a'.repeat(5000)}`];

    const bodies: unknown[] = [];
    for (const key of [revoked.key, expired.key, wrongSecret, unknown, ...malformed]) {
      for (const [header, value] of [['X-API-Key', key], ['Authorization', `ApiKey ${key}`]] as const) {
        const res = await request(latch.url).get('/api/v1/whoami').set(header, value);
        expect(res.status, `${header} ${key.slice(0, 20)}`).to.equal(401);
        bodies.push(res.body);
      }
    }
    const bearerForm = await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${revoked.key}`).expect(401);
    bodies.push(bearerForm.body);
    expect(bodies[0]).to.deep.equal({ error: 'invalid_api_key', message: 'the API key is malformed, unknown, expired or revoked' });
    for (const body of bodies) expect(body).to.deep.equal(bodies[0]);
    // the live key still works
    await withKey(live.key).get('/whoami').expect(200);
  });

  it('a key without api:write gets 403 on a write, and 200 on a read', async () => {
    const readOnly = await newKey(aliceToken, { scopes: ['api:read'] });
    await withKey(readOnly.key).get('/me').expect(200);
    const res = await withKey(readOnly.key).patch('/me', { name: 'Changed' }).expect(403);
    expect(res.body).to.deep.equal({ error: 'forbidden', message: 'this call needs the api:write scope' });
    await withKey(readOnly.key).post('/orgs', { name: 'Nope' }).expect(403);
    expect((await latch.container.accounts.findById(alice.id))!.name).to.not.equal('Changed');
  });

  it("an organization's key cannot reach another organization's objects (404), nor act as a person (403)", async () => {
    const orgKey = await newKey(aliceToken, {}, `/orgs/${orgA}/api-keys`);
    const bobsOrgKey = await newKey(bobToken, {}, `/orgs/${orgB}/api-keys`);
    const key = withKey(orgKey.key);
    for (const [label, call] of [
      ['B keys', () => key.get(`/orgs/${orgB}/api-keys`)],
      ['revoke B key', () => key.delete(`/orgs/${orgB}/api-keys/${bobsOrgKey.id}`)],
      ['B org', () => key.get(`/orgs/${orgB}`)],
      ['B members', () => key.get(`/orgs/${orgB}/members`)],
      ['B invite', () => key.post(`/orgs/${orgB}/invitations`, { email: 'x@example.com' })],
      ['create in B', () => key.post(`/orgs/${orgB}/api-keys`, { name: 'x', scopes: ['api:read'] })],
      ['guessed org', () => key.get('/orgs/00000000-0000-0000-0000-000000000000/api-keys')],
      ['B key through A', () => key.delete(`/orgs/${orgA}/api-keys/${bobsOrgKey.id}`)],
    ] as const) {
      const res = await call();
      expect(res.status, label).to.equal(404);
      expect(res.body.error, label).to.equal('not_found');
    }
    expect((await row(bobsOrgKey.id)).revoked_at).to.equal(null);
    // inside its own organization it lists that organization's keys
    const own = (await key.get(`/orgs/${orgA}/api-keys`).expect(200)).body;
    expect(own.map((k: { id: string }) => k.id)).to.include(orgKey.id);
    expect(own.every((k: { orgId: string }) => k.orgId === orgA)).to.equal(true);
    // it is nobody's personal key
    await key.get('/me').expect(403);
    await key.get('/api-keys').expect(403);
    // and keys make no keys
    const minted = await key.post(`/orgs/${orgA}/api-keys`, { name: 'child', scopes: ['api:read'] }).expect(403);
    expect(minted.body.error).to.equal('forbidden');
  });

  it('creating a key unauthenticated (401), as a mere member (403), for another org (404) or naming another owner (400) writes nothing', async () => {
    const before = await countKeys();
    const body = { name: 'sneaky', scopes: ['api:read'] };
    await request(latch.url).post('/api/v1/api-keys').send({ ...body, accountId: alice.id }).expect(401);
    await request(latch.url).post(`/api/v1/orgs/${orgA}/api-keys`).send({ ...body, orgId: orgA }).expect(401);
    const member = await bearer(bobToken).post(`/orgs/${orgA}/api-keys`, body).expect(403);
    expect(member.body.error).to.equal('forbidden');
    await bearer(bobToken).get(`/orgs/${orgA}/api-keys`).expect(403);
    await bearer(aliceToken).post(`/orgs/${orgB}/api-keys`, body).expect(404);
    for (const owner of [{ accountId: alice.id }, { orgId: orgA }, { owner: alice.id }, { account_id: alice.id }]) {
      const res = await bearer(bobToken).post('/api-keys', { ...body, ...owner }).expect(400);
      expect(res.body.error).to.equal('invalid_input');
      await bearer(bobToken).post(`/orgs/${orgA}/api-keys`, { ...body, ...owner }).expect((r) => expect(r.status).to.be.oneOf([400, 403]));
    }
    // a key cannot make keys either
    const personalKey = await newKey(aliceToken);
    await withKey(personalKey.key).post('/api-keys', body).expect(403);
    expect(await countKeys()).to.equal(before + 1);
    const aliceKeys = (await bearer(aliceToken).get('/api-keys').expect(200)).body;
    expect(aliceKeys.some((k: { name: string }) => k.name === 'sneaky')).to.equal(false);
  });

  it('shows the secret once; stores only a keyed hash', async () => {
    const created = await newKey(aliceToken, { name: 'stored', labels: { project: '42' }, expiresIn: '30d' });
    const secret = created.key.split('_')[2]!;
    const stored = await row(created.id);
    expect(stored.account_id).to.equal(alice.id);
    expect(stored.org_id).to.equal(null);
    expect(stored.labels).to.deep.equal({ project: '42' });
    expect(JSON.stringify(stored)).to.not.include(secret);
    expect(stored.secret_hash).to.match(/^[A-Za-z0-9_-]{43}$/);
    const days = (new Date(stored.expires_at).getTime() - Date.now()) / 86400_000;
    expect(days).to.be.within(29.9, 30.1);
    const listed = (await bearer(aliceToken).get('/api-keys').expect(200)).body.find((k: { id: string }) => k.id === created.id);
    expect(listed).to.include({ prefix: created.prefix, name: 'stored', status: 'active', lastUsedAt: null });
    expect(listed).to.not.have.property('key');
    expect(JSON.stringify(listed)).to.not.include(secret);
    // nor is the key anywhere else in the database (the HMAC key is sealed with LATCH_SECRET)
    const hmac = await latch.container.knex('keys').where({ use: 'api-key-hmac' }).first();
    expect(hmac.sealed_private.startsWith('v1.')).to.equal(true);
  });

  it('moves last_used_at at most once a minute, off the request path', async () => {
    const created = await newKey(aliceToken);
    await withKey(created.key).get('/whoami').expect(200);
    // the marks of a second leave together; flushUseMarks writes what is due now (as on shutdown)
    await latch.container.flushUseMarks();
    const first = (await row(created.id)).last_used_at as Date;
    expect(first).to.be.instanceOf(Date);
    expect(Date.now() - first.getTime()).to.be.within(0, 5000);
    await withKey(created.key).get('/whoami').expect(200);
    await withKey(created.key).get('/me').expect(200);
    await latch.container.flushUseMarks();
    expect(((await row(created.id)).last_used_at as Date).getTime()).to.equal(first.getTime());
    const listed = (await bearer(aliceToken).get('/api-keys').expect(200)).body.find((k: { id: string }) => k.id === created.id);
    expect(listed.lastUsedAt).to.equal(first.toISOString());
  });

  it('rotation: a new secret; the old one works for the grace period only', async () => {
    const created = await newKey(aliceToken);
    const rotated = (await bearer(aliceToken).post(`/api-keys/${created.id}/rotate`, { gracePeriod: '10m' }).expect(200)).body;
    expect(rotated.id).to.equal(created.id);
    expect(rotated.prefix).to.equal(created.prefix);
    expect(rotated.key).to.not.equal(created.key);
    expect(new Date(rotated.previousSecretExpiresAt).getTime() - Date.now()).to.be.within(9 * 60_000, 10 * 60_000 + 1000);
    await withKey(rotated.key).get('/whoami').expect(200);
    await withKey(created.key).get('/whoami').expect(200);
    // the grace period ends (a change made in the database is announced, as Latch's own are)
    await latch.container.changes.write('api_keys', () => [rotated.prefix.slice('latch_'.length)], (trx) =>
      trx('api_keys').where({ id: created.id }).update({ previous_expires_at: new Date(Date.now() - 1000) }),
    );
    await withKey(created.key).get('/whoami').expect(401);
    await withKey(rotated.key).get('/whoami').expect(200);

    // gracePeriod 0: the old secret stops at once
    const again = (await bearer(aliceToken).post(`/api-keys/${created.id}/rotate`, { gracePeriod: 0 }).expect(200)).body;
    await withKey(rotated.key).get('/whoami').expect(401);
    await withKey(again.key).get('/whoami').expect(200);

    // a revoked key cannot be rotated back to life; someone else's cannot be rotated at all
    await bearer(bobToken).post(`/api-keys/${created.id}/rotate`, {}).expect(404);
    await bearer(aliceToken).delete(`/api-keys/${created.id}`).expect(204);
    await withKey(again.key).get('/whoami').expect(401);
    expect((await bearer(aliceToken).post(`/api-keys/${created.id}/rotate`, {}).expect(409)).body.error).to.equal('conflict');
  });

  it('organization keys: admins and owners manage them; the org key survives its creator leaving', async () => {
    await latch.container.knex('memberships').where({ org_id: orgA, account_id: bob.id }).update({ role: 'admin' });
    const made = await newKey(bobToken, { name: 'deploy bot', scopes: ['api:read'] }, `/orgs/${orgA}/api-keys`);
    expect((await row(made.id)).created_by).to.equal(bob.id);
    const listed = (await bearer(aliceToken).get(`/orgs/${orgA}/api-keys`).expect(200)).body;
    expect(listed.find((k: { id: string }) => k.id === made.id)).to.include({ orgId: orgA, accountId: null, createdBy: bob.id });
    await bearer(aliceToken).delete(`/orgs/${orgA}/members/${bob.id}`).expect(204);
    await withKey(made.key).get('/whoami').expect(200);
    await bearer(bobToken).delete(`/orgs/${orgA}/api-keys/${made.id}`).expect(404);
    await bearer(aliceToken).delete(`/orgs/${orgA}/api-keys/${made.id}`).expect(204);
    await withKey(made.key).get('/whoami').expect(401);
    // an org key is not reachable through the personal routes either
    await bearer(aliceToken).delete(`/api-keys/${made.id}`).expect(404);
  });

  it('refuses malformed input to every API-key route with 4xx {error, message}, writing nothing', async () => {
    const target = await newKey(aliceToken);
    const before = await countKeys();
    const snapshot = JSON.stringify(await row(target.id));
    const huge = 'x'.repeat(1024 * 1024);
    const bodies: object[] = [
      {},
      { name: 'x' },
      { name: 42, scopes: ['api:read'] },
      { name: 'x', scopes: 'api:read' },
      { name: 'x', scopes: [] },
      { name: 'x', scopes: [42] },
      { name: 'x', scopes: ['not-a-registered-scope'] },
      { name: 'x', scopes: ['api:read'], resource: 'https://unknown.example.com' },
      { name: 'x', scopes: ['api:read'], labels: ['project=42'] },
      { name: 'x', scopes: ['api:read'], labels: { '': 'x' } },
      { name: 'x', scopes: ['api:read'], labels: { project: 42 } },
      { name: 'x', scopes: ['api:read'], expiresIn: -5 },
      { name: 'x', scopes: ['api:read'], expiresIn: '10y' },
      { name: 'x', scopes: ['api:read'], expiresIn: 10 ** 12 },
      { name: 'x\u0000y', scopes: ['api:read'] },
      { name: ' ', scopes: ['api:read'] },
      { name: huge, scopes: ['api:read'] },
      { name: 'x', scopes: [huge] },
      { name: 'x', scopes: ['api:read'], labels: { project: huge } },
    ];
    const check = (res: request.Response, label: string) => {
      expect(res.status, label).to.be.within(400, 499);
      expect(res.body, label).to.include.keys(['error', 'message']);
      expect(res.body.message, label).to.be.a('string');
    };
    for (const path of ['/api/v1/api-keys', `/api/v1/orgs/${orgA}/api-keys`]) {
      for (const body of bodies) check(await request(latch.url).post(path).set('Authorization', `Bearer ${aliceToken}`).send(body), `${path} ${JSON.stringify(body).slice(0, 60)}`);
      check(await request(latch.url).post(path).set('Authorization', `Bearer ${aliceToken}`).set('Content-Type', 'application/json').send('{"name": "x", "scopes": ['), `${path} bad JSON`);
      check(await request(latch.url).post(path).set('Authorization', `Bearer ${aliceToken}`).set('Content-Type', 'text/plain').send('name=x'), `${path} text/plain`);
    }
    for (const path of [`/api/v1/api-keys/${target.id}/rotate`, `/api/v1/orgs/${orgA}/api-keys/${target.id}/rotate`]) {
      for (const body of [{ gracePeriod: -1 }, { gracePeriod: 'soon' }, { gracePeriod: 8 * 86400 }, { gracePeriod: huge }, { key: 'x' }]) {
        check(await request(latch.url).post(path).set('Authorization', `Bearer ${aliceToken}`).send(body), `${path} ${JSON.stringify(body).slice(0, 40)}`);
      }
    }
    for (const id of ['nope', "' OR 1=1 --", 'x'.repeat(5000)]) {
      check(await bearer(aliceToken).delete(`/api-keys/${encodeURIComponent(id)}`), `delete ${id.slice(0, 10)}`);
      check(await bearer(aliceToken).post(`/api-keys/${encodeURIComponent(id)}/rotate`, {}), `rotate ${id.slice(0, 10)}`);
    }
    expect(await countKeys()).to.equal(before);
    expect(JSON.stringify(await row(target.id))).to.equal(snapshot);
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await request(latch.url).get('/api/v1/openapi.json').expect(200)).body;
    expect(doc.paths).to.have.property('/api/v1/orgs/{orgId}/api-keys/{keyId}/rotate');
    expect(doc.paths['/api/v1/api-keys'].post.requestBody.content['application/json'].schema.properties).to.have.property('scopes');
    expect(doc.components.securitySchemes.apiKey).to.deep.equal({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
  });
});
