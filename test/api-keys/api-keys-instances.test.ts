import { expect } from 'chai';
import request from 'supertest';
import { createTestDatabase, usingPostgres } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { startLatch } from '../support/latch.js';
import { createPerson } from '../support/people.js';

/** API keys across restarts and instances: the HMAC key is shared state; a revocation reaches every instance (api-key-cache.test.ts has the rest). */
describe('API keys across restarts and instances', function () {
  this.timeout(120_000);

  it('a key made before a restart still works after it (the HMAC key lives in the database)', async () => {
    const db = await createTestDatabase();
    const first = await startLatch({}, db);
    const alice = await createPerson(first, 'alice@example.com');
    const { key } = await first.container.apiKeys.admin.create({ owner: alice.email, name: 'survivor', scopes: ['api:read'] });
    await first.close();
    const second = await startLatch({}, db);
    try {
      expect((await request(second.url).get('/api/v1/whoami').set('X-API-Key', key).expect(200)).body.sub).to.equal(alice.id);
    } finally {
      await second.close();
    }
  });

  if (usingPostgres()) {
    it('two instances on one PostgreSQL: a key revoked on one is refused by the other as soon as it hears of it', async () => {
      const db = await createTestDatabase();
      // started one after the other: two instances racing on a fresh database's first migration is another matter
      const a = await startLatch({}, db);
      const b = await startLatch({}, db);
      try {
        const alice = await createPerson(a, 'alice@example.com');
        // both instances make their first key at once: one HMAC key comes out of it
        const [made, other] = await Promise.all([
          a.container.apiKeys.admin.create({ owner: alice.id, name: 'shared', scopes: ['api:read'] }),
          b.container.apiKeys.admin.create({ owner: alice.id, name: 'other', scopes: ['api:read'] }),
        ]);
        const hmacKeys = await a.container.knex('keys').where({ use: 'api-key-hmac' }).select('kid');
        expect(hmacKeys).to.have.length(1);
        await request(b.url).get('/api/v1/whoami').set('X-API-Key', made.key).expect(200);
        await request(a.url).get('/api/v1/whoami').set('X-API-Key', other.key).expect(200);
        await request(a.url).get('/api/v1/whoami').set('X-API-Key', made.key).expect(200);
        await a.container.apiKeys.admin.revoke(made.id);
        // b knows the key (it checked it above): it forgets it when its change feed hears the revocation
        await eventually(async () => (await request(b.url).get('/api/v1/whoami').set('X-API-Key', made.key)).status === 401, 'the revoked key refused by the other instance', 2_000);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }
});
