import { expect } from 'chai';
import request from 'supertest';
import { createTestDatabase, usingPostgres } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, type Person } from '../support/people.js';

/**
 * The check of a presented API key reads the key's row from memory once known, and every
 * change that makes a key fail reaches that memory: revocation, rotation, the owning account
 * disabled or deleted, the owning organization deleted — on the instance that made the change
 * at the next request, on another instance sharing PostgreSQL as soon as its change feed hears
 * the notice.
 */
const whoami = (latch: TestLatch, key: string) => request(latch.url).get('/api/v1/whoami').set('X-API-Key', key);

/** Every change the cache must hear, made on `writer`; `refused(key)` says whether `reader` now refuses it. */
async function changesThatEndKeys(writer: TestLatch, refused: (key: string, what: string) => Promise<void>) {
  const { apiKeys, accountAdmin, orgs, me } = writer.container;
  const alice = await createPerson(writer, `alice-${Date.now()}@example.com`);
  const bob = await createPerson(writer, `bob-${Date.now()}@example.com`);
  const personal = (person: Person, name: string) => apiKeys.admin.create({ owner: person.id, name, scopes: ['api:read'] });

  const revoked = await personal(alice, 'revoked');
  const rotated = await personal(alice, 'rotated');
  const bobs = await personal(bob, 'owner disabled');
  const org = await orgs.create(alice.id, { name: 'Doomed' });
  const orgKey = await apiKeys.admin.create({ org: org.id, name: 'org key', scopes: ['api:read'] });
  const carol = await createPerson(writer, `carol-${Date.now()}@example.com`);
  const carols = await personal(carol, 'owner deleted');
  const keys = { revoked, rotated, bobs, orgKey, carols };
  return {
    keys,
    async apply() {
      await apiKeys.admin.revoke(revoked.id);
      await refused(revoked.key, 'a revoked key');
      const renewed = await apiKeys.admin.rotate(rotated.id, { gracePeriod: 0 });
      await refused(rotated.key, 'the secret a rotation replaced');
      await accountAdmin.disable(bob.email);
      await refused(bobs.key, "a disabled account's key");
      await orgs.delete(alice.id, org.id);
      await refused(orgKey.key, "a deleted organization's key");
      await me.deleteAccount(carol.id);
      await refused(carols.key, "a deleted account's key");
      return { renewed, bob };
    },
  };
}

describe('API keys: checked from memory, and every change that ends a key reaches it', function () {
  this.timeout(120_000);

  let latch: TestLatch;
  before(async () => {
    latch = await startLatch();
  });
  after(async () => {
    await latch?.close();
  });

  it('a known key is checked without reading its row again', async () => {
    const alice = await createPerson(latch, 'reader@example.com');
    const made = await latch.container.apiKeys.admin.create({ owner: alice.id, name: 'hot', scopes: ['api:read'] });
    const reads: string[] = [];
    const onQuery = (query: { sql: string }) => {
      if (/^\s*select/i.test(query.sql) && query.sql.includes('api_keys')) reads.push(query.sql);
    };
    latch.container.knex.on('query', onQuery);
    try {
      await whoami(latch, made.key).expect(200);
      expect(reads, 'the first use reads the row').to.have.length(1);
      for (let i = 0; i < 5; i += 1) expect((await whoami(latch, made.key).expect(200)).body.sub).to.equal(alice.id);
      expect(reads, 'later uses read nothing').to.have.length(1);
      // a wrong secret for a known key is still refused, and still reads nothing
      const wrong = `${made.key.slice(0, -4)}${made.key.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      await whoami(latch, wrong).expect(401);
      expect(reads).to.have.length(1);
    } finally {
      latch.container.knex.removeListener('query', onQuery);
    }
  });

  it('revocation, rotation, a disabled or deleted owner and a deleted organization take effect on the next request', async () => {
    const scene = await changesThatEndKeys(latch, async (key, what) => {
      expect((await whoami(latch, key)).status, what).to.equal(401);
    });
    // every key works, and is now known, before the changes
    for (const made of Object.values(scene.keys)) await whoami(latch, made.key).expect(200);
    const { renewed, bob } = await scene.apply();
    await whoami(latch, renewed.key).expect(200);
    // enabling the account again brings its key back at once
    await latch.container.accountAdmin.enable(bob.email);
    await whoami(latch, scene.keys.bobs.key).expect(200);
  });

  if (usingPostgres()) {
    it('two instances on one PostgreSQL: each change made on one reaches the other within moments', async () => {
      const db = await createTestDatabase();
      const a = await startLatch({}, db);
      const b = await startLatch({}, db);
      try {
        await eventually(async () => a.container.changes.live && b.container.changes.live, 'both change feeds live', 5_000);
        const scene = await changesThatEndKeys(a, (key, what) => eventually(async () => (await whoami(b, key)).status === 401, `${what} refused on the other instance`, 2_000));
        for (const made of Object.values(scene.keys)) await whoami(b, made.key).expect(200);
        const { renewed, bob } = await scene.apply();
        await whoami(b, renewed.key).expect(200);
        await a.container.accountAdmin.enable(bob.email);
        await eventually(async () => (await whoami(b, scene.keys.bobs.key)).status === 200, 'the enabled account\'s key accepted on the other instance', 2_000);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }
});
