import { expect } from 'chai';
import type { Knex } from 'knex';
import pg from 'pg';
import request from 'supertest';
import { CHANGE_CHANNEL, createChangeFeed } from '../../lib/db/change-feed.js';
import { createLogger } from '../../lib/log.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/**
 * Clients and resource servers are read from memory on the token path; a change made on any
 * instance (or by `latch` against the database) reaches every instance's cache at once.
 */
const RESOURCE = 'https://api.cache.example';

function countQueries(knex: Knex, table: string) {
  const seen: string[] = [];
  const listener = (q: { sql: string }) => {
    if (q.sql.includes(`from "${table}"`)) seen.push(q.sql);
  };
  knex.on('query', listener);
  return {
    get count() {
      return seen.length;
    },
    stop: () => knex.off('query', listener),
  };
}

function clientCredentials(latch: TestLatch, clientId: string, secret: string, scope = 'read') {
  return request(latch.url).post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials', resource: RESOURCE, scope });
}

describe('client and resource cache', () => {
  describe('on one instance', () => {
    let latch: TestLatch;
    let clientId: string;
    let secret: string;

    before(async () => {
      latch = await startLatch();
      await latch.container.resources.add({ identifier: RESOURCE, scopes: ['read', 'write'] });
      ({ clientId, clientSecret: secret } = (await latch.container.clients.create({ name: 'Cached', grantTypes: ['client_credentials'] })) as { clientId: string; clientSecret: string });
    });
    after(() => latch.close());

    it('a token request reads neither the client nor the resource from the database once both are known', async () => {
      await clientCredentials(latch, clientId, secret).expect(200);
      const clients = countQueries(latch.container.knex, 'clients');
      const resources = countQueries(latch.container.knex, 'resource_servers');
      try {
        for (let i = 0; i < 5; i++) await clientCredentials(latch, clientId, secret).expect(200);
      } finally {
        clients.stop();
        resources.stop();
      }
      expect(clients.count, 'client look-ups').to.equal(0);
      expect(resources.count, 'resource look-ups').to.equal(0);
    });

    it('a secret rotation, a scope change and a deletion take effect on the very next request', async () => {
      await clientCredentials(latch, clientId, secret).expect(200);
      const rotated = await latch.container.clients.rotateSecret(clientId);
      const old = await clientCredentials(latch, clientId, secret);
      expect(old.status).to.equal(401);
      expect(old.body.error).to.equal('invalid_client');
      await clientCredentials(latch, clientId, rotated.clientSecret).expect(200);

      await latch.container.resources.update(RESOURCE, { scopes: ['read'] });
      const narrowed = await clientCredentials(latch, clientId, rotated.clientSecret, 'read write').expect(200);
      expect(narrowed.body.scope).to.equal('read');

      await latch.container.clients.delete(clientId);
      const gone = await clientCredentials(latch, clientId, rotated.clientSecret);
      expect(gone.status).to.equal(401);
      expect(gone.body.error).to.equal('invalid_client');
    });

    it("oidc-provider's Client object is built once per version of a client, however many clients are in use", async () => {
      const Client = latch.container.providerHost.current.Client;
      const created = await Promise.all(Array.from({ length: 250 }, (_, i) => latch.container.clients.create({ name: `Many ${i}`, grantTypes: ['client_credentials'] })));
      const ids = created.map((c) => c.clientId);
      // twice round: the first look-up reads the database; from the second on the cache holds the metadata
      for (const id of ids) await Client.find(id);
      const first = new Map(await Promise.all(ids.map(async (id) => [id, await Client.find(id)] as const)));
      // 250 more look-ups: past oidc-provider's own LRU (100 clients, up to 200 in its two generations)
      for (const id of ids) expect(await Client.find(id), id).to.equal(first.get(id));

      const [changed] = ids;
      await latch.container.clients.update(changed!, { name: 'Renamed' });
      const rebuilt = await Client.find(changed!);
      expect(rebuilt).to.not.equal(first.get(changed!));
      expect(rebuilt?.clientName).to.equal('Renamed');
      await latch.container.clients.delete(ids[1]!);
      expect(await Client.find(ids[1]!)).to.equal(undefined);
    });

    it('an unknown client id is never remembered: registering it later works at once', async () => {
      const created = await latch.container.clients.create({ name: 'Later', grantTypes: ['client_credentials'] });
      await clientCredentials(latch, created.clientId, created.clientSecret!).expect(200);
      const missing = await clientCredentials(latch, 'not-yet-there', 'x');
      expect(missing.status).to.equal(401);
    });
  });

  describe('on two instances sharing one PostgreSQL', function () {
    let db: TestDatabase;
    let a: TestLatch;
    let b: TestLatch;
    let clientId: string;
    let secret: string;

    before(async function () {
      if (!usingPostgres()) {
        console.log('      (skipped: the embedded database belongs to one process; run with DATABASE_URL)');
        this.skip();
      }
      db = await createTestDatabase();
      a = await startLatch({}, db);
      b = await startLatch({ ISSUER: a.issuer }, db);
      await a.container.resources.add({ identifier: RESOURCE, scopes: ['read', 'write'] });
      ({ clientId, clientSecret: secret } = (await a.container.clients.create({ name: 'Shared', grantTypes: ['client_credentials'] })) as { clientId: string; clientSecret: string });
    });
    after(async () => {
      await b?.close();
      await a?.close();
    });

    it('a change made on one instance reaches the other\'s cache within moments', async () => {
      // both instances now hold the client and the resource in memory
      await clientCredentials(a, clientId, secret).expect(200);
      await clientCredentials(b, clientId, secret).expect(200);

      const rotated = await a.container.clients.rotateSecret(clientId);
      await eventually(async () => (await clientCredentials(b, clientId, secret)).status === 401, 'the old secret refused on the other instance', 2_000);
      await clientCredentials(b, clientId, rotated.clientSecret).expect(200);

      await a.container.resources.update(RESOURCE, { scopes: ['read'] });
      await eventually(async () => (await clientCredentials(b, clientId, rotated.clientSecret, 'read write')).body.scope === 'read', 'the narrowed scopes on the other instance', 2_000);

      await a.container.clients.delete(clientId);
      await eventually(async () => (await clientCredentials(b, clientId, rotated.clientSecret)).status === 401, 'the deleted client refused on the other instance', 2_000);
    });

    it('a write by another process on the database (as `latch` makes it) is heard too', async () => {
      const created = (await a.container.clients.create({ name: 'Outside', grantTypes: ['client_credentials'] })) as { clientId: string; clientSecret: string };
      await clientCredentials(b, created.clientId, created.clientSecret).expect(200);
      // what a second process sends: the statement and its notice, in one transaction
      const outside = new pg.Client({ connectionString: b.env.DATABASE_URL });
      await outside.connect();
      try {
        await outside.query('BEGIN');
        await outside.query('DELETE FROM clients WHERE client_id = $1', [created.clientId]);
        await outside.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify({ t: 'clients', k: [created.clientId] })]);
        await outside.query('COMMIT');
      } finally {
        await outside.end();
      }
      await eventually(async () => (await clientCredentials(b, created.clientId, created.clientSecret)).status === 401, 'the client deleted elsewhere refused', 2_000);
    });

    it('counts as live only while it hears its own heartbeats: a connection that hears nothing keeps the caches off', async () => {
      // notices are per database: a listener on another database is connected and LISTENing,
      // yet hears none of what is sent here — like a pooler in transaction mode
      const elsewhere = await createTestDatabase();
      const deaf = createChangeFeed({ knex: a.container.knex, kind: 'postgres', url: elsewhere.env.DATABASE_URL, log: createLogger('silent') });
      const hearing = createChangeFeed({ knex: a.container.knex, kind: 'postgres', url: a.env.DATABASE_URL, log: createLogger('silent') });
      try {
        await deaf.start();
        await hearing.start();
        await eventually(async () => hearing.live, 'the feed on the right database hears its heartbeat', 3_000);
        expect(deaf.live, 'a feed that hears nothing').to.equal(false);
      } finally {
        await deaf.close();
        await hearing.close();
        await elsewhere.drop();
      }
    });

    it('while its listening connection is down an instance reads through, and after it is back it misses nothing', async () => {
      const created = (await a.container.clients.create({ name: 'Gap', grantTypes: ['client_credentials'] })) as { clientId: string; clientSecret: string };
      await clientCredentials(b, created.clientId, created.clientSecret).expect(200);

      // cut every change-feed connection (both instances'), then change the client before they are back
      const admin = new pg.Client({ connectionString: b.env.DATABASE_URL });
      await admin.connect();
      try {
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'latch-changes' AND datname = current_database()");
        await eventually(async () => !b.container.changes.live, 'the feed noticed the cut', 2_000);
        const clients = countQueries(b.container.knex, 'clients');
        try {
          await clientCredentials(b, created.clientId, created.clientSecret).expect(200);
        } finally {
          clients.stop();
        }
        expect(clients.count, 'reads go to the database while not listening').to.be.greaterThan(0);
        // a change nobody can hear: a plain UPDATE without a notice
        await admin.query("UPDATE clients SET metadata = jsonb_set(metadata, '{client_secret}', to_jsonb('changed-while-deaf'::text)) WHERE client_id = $1", [created.clientId]);
      } finally {
        await admin.end();
      }
      await eventually(async () => b.container.changes.live, 'the feed listening again', 5_000);
      const refused = await clientCredentials(b, created.clientId, created.clientSecret);
      expect(refused.status, 'the old secret after the gap').to.equal(401);
      await clientCredentials(b, created.clientId, 'changed-while-deaf').expect(200);
    });
  });
});
