import crypto from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { API_KEY_PREFIX, MAX_TTL_SECONDS, newApiKey, newPublicId } from '../../lib/api-keys/api-key-secrets.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, openSignedIn, signIn, testApp, type Person } from '../support/people.js';

/**
 * SECURITY.md F.38 — API keys: ≥ 128 bits from a CSPRNG with a recognisable prefix; stored
 * hashed; shown once; scoped; expiring; revocable; the owner taken from the authenticated
 * principal, never the body. Against a real Latch over HTTP (the JSON API, the hosted
 * /account/api-keys pages, introspection and token exchange), with the database inspected.
 */
describe('SECURITY F.38 — API keys', function () {
  let latch: TestLatch;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let aliceToken: string;
  let bobToken: string;
  let orgA: string; // alice owns it, carol is a member
  let orgB: string; // bob's
  const R = 'https://reports.example.com/api';
  const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
  const KEY_TYPE = 'urn:latch:params:oauth:token-type:api-key';
  let server: { clientId: string; clientSecret: string }; // a resource server's client (introspection, exchange)

  const api = (auth: string) => ({
    get: (path: string) => request(latch.url).get(`/api/v1${path}`).set('Authorization', auth),
    post: (path: string, body: object = {}) => request(latch.url).post(`/api/v1${path}`).set('Authorization', auth).send(body),
    delete: (path: string) => request(latch.url).delete(`/api/v1${path}`).set('Authorization', auth),
  });
  const asAlice = () => api(`Bearer ${aliceToken}`);
  const withKey = (key: string) => api(`ApiKey ${key}`);
  type Created = { id: string; key: string; prefix: string; scopes: string[]; accountId: string | null; orgId: string | null; expiresAt: string };
  async function newKey(body: object = {}, path = '/api-keys', token = aliceToken): Promise<Created> {
    const res = await api(`Bearer ${token}`).post(path, { name: 'key', scopes: ['api:read'], ...body });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as Created;
  }
  const keyRows = () => latch.container.knex('api_keys').select('*');
  const introspectKey = (key: string) => request(latch.url).post('/token/introspection').auth(server.clientId, server.clientSecret).type('form').send({ token: key });
  const exchange = (key: string, extra: Record<string, string> = {}) =>
    request(latch.url).post('/token').auth(server.clientId, server.clientSecret).type('form').send({ grant_type: EXCHANGE, subject_token: key, subject_token_type: KEY_TYPE, resource: R, ...extra });

  /** Every value of every row of every table, as text: where a secret must never appear. */
  async function wholeDatabase(): Promise<string> {
    const knex = latch.container.knex;
    const tables = (await knex('information_schema.tables').where({ table_schema: knex.raw('current_schema()') }).andWhere({ table_type: 'BASE TABLE' }).select('table_name')).map((r: { table_name: string }) => r.table_name);
    expect(tables).to.include('api_keys');
    const dumps = await Promise.all(tables.map(async (t) => JSON.stringify(await knex(t).select('*'))));
    return dumps.join('\n');
  }

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    await latch.container.resources.add({ identifier: R, scopes: ['r:read', 'r:write'] });
    server = (await latch.container.clients.create({ name: 'Reports API', grantTypes: [EXCHANGE] })) as typeof server;
    const app = await testApp(latch);
    alice = await createPerson(latch, 'alice@example.com');
    bob = await createPerson(latch, 'bob@example.com');
    carol = await createPerson(latch, 'carol@example.com');
    aliceToken = (await signIn(latch, alice, app)).tokens.access_token;
    bobToken = (await signIn(latch, bob, app)).tokens.access_token;
    orgA = (await asAlice().post('/orgs', { name: 'Acme' }).expect(201)).body.id;
    orgB = (await api(`Bearer ${bobToken}`).post('/orgs', { name: 'Bobco' }).expect(201)).body.id;
    await latch.container.queries.orgs.insertMembership({ org_id: orgA, account_id: carol.id, role: 'member' });
  });
  after(() => latch.close());

  describe('≥ 128 bits from a CSPRNG, with a recognisable prefix', () => {
    it('every key is latch_<12-character public id>_<43 base62 characters> (≈ 256 bits); no two alike', async () => {
      const keys: Created[] = [];
      for (let i = 0; i < 25; i += 1) keys.push(await newKey({ name: `k${i}` }));
      for (const created of keys) {
        expect(created.key).to.match(/^latch_[a-z0-9]{12}_[A-Za-z0-9]{43}$/);
        expect(created.key.startsWith(`${created.prefix}_`)).to.equal(true);
        expect(created.prefix.startsWith(API_KEY_PREFIX)).to.equal(true);
      }
      const secretBits = 43 * Math.log2(62);
      expect(secretBits).to.be.at.least(128);
      expect(new Set(keys.map((k) => k.key.split('_')[2])).size).to.equal(keys.length);
      expect(new Set(keys.map((k) => k.prefix)).size).to.equal(keys.length);
    });

    it('the secret characters are uniform over the 62 symbols, with no repeats (what a CSPRNG yields)', () => {
      // Latch's own generator, the one the service calls; 4,000 keys = 172,000 secret characters
      const counts = new Map<string, number>();
      const secrets = new Set<string>();
      const N = 4000;
      for (let i = 0; i < N; i += 1) {
        const secret = newApiKey(newPublicId()).split('_')[2]!;
        secrets.add(secret.slice(0, 16));
        for (const ch of secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
      }
      expect(secrets.size, 'no two secrets share even their first 16 characters').to.equal(N);
      expect(counts.size).to.equal(62);
      const expected = (N * 43) / 62;
      // chi-square with 61 degrees of freedom: above 110 happens by chance with p < 0.0001
      const chiSquare = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
      expect(chiSquare).to.be.below(110);
    });
  });

  describe('stored hashed, shown once', () => {
    it('the row holds only a keyed hash; the key appears nowhere in the database', async () => {
      const created = await newKey({ name: 'hashed', scopes: ['api:read', 'api:write'] });
      const secret = created.key.split('_')[2]!;
      const row = (await keyRows()).find((r) => r.id === created.id)!;
      expect(row.secret_hash).to.match(/^[A-Za-z0-9_-]{43}$/);
      // a keyed hash: not the plain SHA-256 anyone could compute from a guess
      for (const plain of [created.key, secret]) {
        expect(row.secret_hash).to.not.equal(crypto.createHash('sha256').update(plain).digest('base64url'));
        expect(row.secret_hash).to.not.equal(crypto.createHash('sha256').update(plain).digest('hex'));
      }
      const everything = await wholeDatabase();
      expect(everything).to.include(created.id);
      expect(everything).not.to.include(secret);
      expect(everything).not.to.include(created.key);
      // and the key still works: it is checked against that hash
      await withKey(created.key).get('/whoami').expect(200);
    });

    it('listing keys (API, hosted page, admin CLI) never shows a secret, only the prefix', async () => {
      const created = await newKey({ name: 'listed' });
      const secret = created.key.split('_')[2]!;
      const listed = await asAlice().get('/api-keys').expect(200);
      const mine = (listed.body as Array<Record<string, unknown>>).find((k) => k.id === created.id)!;
      expect(mine.prefix).to.equal(created.prefix);
      expect(mine).not.to.have.property('key');
      expect(JSON.stringify(listed.body)).not.to.include(secret);
      const page = await openSignedIn(latch, request.agent(latch.url), alice, '/account/api-keys');
      expect(page.status).to.equal(200);
      expect(page.text).to.include(created.prefix);
      expect(page.text).not.to.include(secret);
      const adminList = await latch.container.apiKeys.admin.list({ owner: alice.email });
      expect(adminList.map((k) => k.id)).to.include(created.id);
      expect(JSON.stringify(adminList)).not.to.include(secret);
      // a second look at the created key's details does not show it either
      const again = await asAlice().get('/api-keys').expect(200);
      expect(JSON.stringify(again.body)).not.to.include(secret);
    });
  });

  describe('scoped', () => {
    it('a key with api:read reads but cannot write; a key for another resource has no scope on Latch\'s API', async () => {
      const readOnly = await newKey({ name: 'read only', scopes: ['api:read'] });
      await withKey(readOnly.key).get('/whoami').expect(200);
      const write = await withKey(readOnly.key).post('/orgs', { name: 'Not allowed' });
      expect(write.status).to.equal(403);
      expect(write.body.error).to.equal('forbidden');
      const forR = await newKey({ name: 'reports', scopes: ['r:read'], resource: R });
      for (const path of ['/whoami', '/orgs', '/api-keys']) expect((await withKey(forR.key).get(path)).status, path).to.equal(403);
      expect((await exchange(forR.key, { scope: 'r:read' })).status, 'control: it works for its own resource').to.equal(200);
      expect((await latch.container.knex('organizations').where({ name: 'Not allowed' })).length).to.equal(0);
    });

    it('a scope outside the key\'s is refused at token exchange; introspection reports only the key\'s scopes', async () => {
      const forR = await newKey({ name: 'reports read', scopes: ['r:read'], resource: R });
      const ok = await exchange(forR.key, { scope: 'r:read' });
      expect(ok.status).to.equal(200);
      const wider = await exchange(forR.key, { scope: 'r:read r:write' });
      expect(wider.status).to.equal(400);
      expect(wider.body.error).to.equal('invalid_scope');
      expect(wider.body).not.to.have.property('access_token');
      const other = await exchange(forR.key, { resource: latch.container.resources.latchApi.identifier });
      expect(other.status).to.equal(400);
      expect(other.body).not.to.have.property('access_token');
      const details = (await introspectKey(forR.key).expect(200)).body;
      expect(details).to.include({ active: true, scope: 'r:read', sub: alice.id });
    });

    it('a key cannot be made with scopes that belong to no resource, or to another resource than its own', async () => {
      const before = (await keyRows()).length;
      for (const body of [{ scopes: ['admin:everything'] }, { scopes: ['api:read'], resource: R }, { scopes: ['r:read'], resource: 'https://unknown.example.com' }]) {
        const res = await asAlice().post('/api-keys', { name: 'bad', ...body });
        expect(res.status, JSON.stringify(body)).to.equal(400);
      }
      expect((await keyRows()).length).to.equal(before);
    });
  });

  describe('expiring and revocable', () => {
    it('every key expires: 90 days unless asked, never more than the maximum', async () => {
      const plain = await newKey({ name: 'default expiry' });
      const left = new Date(plain.expiresAt).getTime() - Date.now();
      expect(left).to.be.within(89 * 86400_000, 91 * 86400_000);
      const tooLong = await asAlice().post('/api-keys', { name: 'forever', scopes: ['api:read'], expiresIn: MAX_TTL_SECONDS + 1 });
      expect(tooLong.status).to.equal(400);
      for (const never of [0, -1, null, 'never']) expect((await asAlice().post('/api-keys', { name: 'never', scopes: ['api:read'], expiresIn: never })).status, String(never)).to.equal(400);
      const rows = await keyRows();
      expect(rows.every((r) => r.expires_at !== null)).to.equal(true);
    });

    it('an expired key is refused everywhere: the API, introspection and exchange', async () => {
      const created = await newKey({ name: 'expiring', scopes: ['r:read'], resource: R, expiresIn: 60 });
      expect((await exchange(created.key)).status, 'control').to.equal(200);
      // its expiry reached (moved in the database and announced, as Latch's own changes are, rather than waited for)
      await latch.container.changes.write('api_keys', () => [created.prefix.slice('latch_'.length)], (trx) =>
        trx('api_keys').where({ id: created.id }).update({ expires_at: new Date(Date.now() - 1000) }),
      );
      const res = await withKey(created.key).get('/whoami');
      expect(res.status).to.equal(401);
      expect(res.body.error).to.equal('invalid_api_key');
      expect((await introspectKey(created.key).expect(200)).body).to.deep.equal({ active: false });
      expect((await exchange(created.key)).body).not.to.have.property('access_token');
    });

    it('a revoked key is refused at once everywhere; the row stays, marked revoked', async () => {
      const created = await newKey({ name: 'revoked', scopes: ['api:read'] });
      await withKey(created.key).get('/whoami').expect(200);
      await asAlice().delete(`/api-keys/${created.id}`).expect(204);
      expect((await withKey(created.key).get('/whoami')).status).to.equal(401);
      expect((await introspectKey(created.key).expect(200)).body).to.deep.equal({ active: false });
      const row = (await keyRows()).find((r) => r.id === created.id)!;
      expect(row.revoked_at).to.not.equal(null);
      // another person cannot revoke alice's key, whatever id they send
      const other = await newKey({ name: 'not bob\'s' });
      expect((await api(`Bearer ${bobToken}`).delete(`/api-keys/${other.id}`)).status).to.equal(404);
      await withKey(other.key).get('/whoami').expect(200);
    });
  });

  describe('the owner comes from the authenticated principal, never the body', () => {
    const ownerFields = (): Array<Record<string, unknown>> => [
      { accountId: bob.id },
      { account_id: bob.id },
      { owner: bob.id },
      { owner: bob.email },
      { orgId: orgB },
      { org_id: orgB },
      { createdBy: bob.id },
    ];

    it('the JSON API refuses a body naming an owner (400) and writes nothing', async () => {
      const before = (await keyRows()).length;
      for (const extra of ownerFields()) {
        const res = await asAlice().post('/api-keys', { name: 'mine?', scopes: ['api:read'], ...extra });
        expect(res.status, JSON.stringify(extra)).to.equal(400);
        expect(res.body.error).to.equal('invalid_input');
        const orgRes = await asAlice().post(`/orgs/${orgA}/api-keys`, { name: 'ours?', scopes: ['api:read'], ...extra });
        expect(orgRes.status, JSON.stringify(extra)).to.equal(400);
      }
      expect((await keyRows()).length).to.equal(before);
    });

    it('a key is the caller\'s: a personal key is the signed-in person\'s, an org key names the org and its maker', async () => {
      const personal = await newKey({ name: 'personal' });
      const orgKey = await newKey({ name: 'org' }, `/orgs/${orgA}/api-keys`);
      const rows = await keyRows();
      const p = rows.find((r) => r.id === personal.id)!;
      const o = rows.find((r) => r.id === orgKey.id)!;
      expect({ account: p.account_id, org: p.org_id, by: p.created_by }).to.deep.equal({ account: alice.id, org: null, by: alice.id });
      expect({ account: o.account_id, org: o.org_id, by: o.created_by }).to.deep.equal({ account: null, org: orgA, by: alice.id });
      expect((await withKey(personal.key).get('/whoami')).body.sub).to.equal(alice.id);
      // bob's key is bob's, even though alice's id is all over the request
      const bobs = await api(`Bearer ${bobToken}`).post('/api-keys', { name: `for ${alice.id}`, scopes: ['api:read'], labels: { owner: alice.id } }).expect(201);
      expect((await keyRows()).find((r) => r.id === bobs.body.id)!.account_id).to.equal(bob.id);
    });

    it('another organization (or one the caller merely belongs to) cannot be named as owner: 404 / 403, nothing written', async () => {
      const before = (await keyRows()).length;
      expect((await asAlice().post(`/orgs/${orgB}/api-keys`, { name: 'theirs', scopes: ['api:read'] })).status).to.equal(404);
      expect((await asAlice().post(`/orgs/${crypto.randomUUID()}/api-keys`, { name: 'nobody\'s', scopes: ['api:read'] })).status).to.equal(404);
      const carolToken = (await signIn(latch, carol, await testApp(latch, 'Carol App'))).tokens.access_token;
      expect((await api(`Bearer ${carolToken}`).post(`/orgs/${orgA}/api-keys`, { name: 'member', scopes: ['api:read'] })).status).to.equal(403);
      expect((await keyRows()).length).to.equal(before);
    });

    it('the hosted form\'s owner field only chooses among the caller\'s own organizations', async () => {
      const agent = request.agent(latch.url);
      const page = await openSignedIn(latch, agent, alice, '/account/api-keys');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
      const before = (await keyRows()).length;
      for (const owner of [orgB, bob.id, crypto.randomUUID()]) {
        const res = await agent.post('/account/api-keys').type('form').send({ _csrf: csrf, name: 'form key', owner, scopes: 'api:read' });
        expect(res.status, owner).to.equal(404);
        expect(res.text).not.to.match(/latch_[a-z0-9]{12}_[A-Za-z0-9]{43}/);
      }
      expect((await keyRows()).length).to.equal(before);
      // control: "me" and alice's own organization work, and are alice's
      const mine = await agent.post('/account/api-keys').type('form').send({ _csrf: csrf, name: 'form mine', owner: 'me', scopes: 'api:read' }).expect(200);
      const ours = await agent.post('/account/api-keys').type('form').send({ _csrf: csrf, name: 'form ours', owner: orgA, scopes: 'api:read' }).expect(200);
      for (const res of [mine, ours]) expect(res.text).to.match(/latch_[a-z0-9]{12}_[A-Za-z0-9]{43}/);
      const rows = await keyRows();
      expect(rows.find((r) => r.name === 'form mine')!.account_id).to.equal(alice.id);
      expect(rows.find((r) => r.name === 'form ours')!.org_id).to.equal(orgA);
      // bob's keys cannot be revoked from alice's form, whatever id she posts
      const bobsKey = await newKey({ name: 'bob form target' }, '/api-keys', bobToken);
      const revoke = await agent.post(`/account/api-keys/${bobsKey.id}/revoke`).type('form').send({ _csrf: csrf });
      expect(revoke.status).to.equal(404);
      expect((await keyRows()).find((r) => r.id === bobsKey.id)!.revoked_at).to.equal(null);
    });

    it('an API key cannot mint keys, so a leaked key cannot outlive its revocation', async () => {
      const writer = await newKey({ name: 'writer', scopes: ['api:read', 'api:write'] });
      const before = (await keyRows()).length;
      const res = await withKey(writer.key).post('/api-keys', { name: 'child', scopes: ['api:read'] });
      expect(res.status).to.equal(403);
      expect((await keyRows()).length).to.equal(before);
    });
  });
});
