import { expect } from 'chai';
import { loadConfig } from '../../lib/config/config.js';
import { migrateLatest, openDatabase, type Database } from '../../lib/db/database.js';
import { createTestDatabase } from '../support/database.js';

/** The same queries must answer the same way on PGlite and on PostgreSQL. */
describe('database', () => {
  let db: Database;
  before(async () => {
    db = await openDatabase(loadConfig((await createTestDatabase()).env).database);
    await migrateLatest(db.knex);
  });
  after(() => db.close());

  it('returns affected row counts from update, delete and increment, inside and outside transactions', async () => {
    await db.knex('resource_servers').insert([{ identifier: 'urn:a', scopes: ['x'] }, { identifier: 'urn:b', scopes: ['x'] }]);
    expect(await db.knex('resource_servers').update({ name: 'n' })).to.equal(2);
    expect(await db.knex('resource_servers').where({ identifier: 'urn:a' }).increment('access_token_ttl', 1)).to.equal(1);
    expect(await db.knex.transaction((trx) => trx('resource_servers').where({ identifier: 'urn:a' }).delete())).to.equal(1);
    expect(await db.knex('resource_servers').where({ identifier: 'urn:none' }).delete()).to.equal(0);
    expect(await db.knex('resource_servers').delete()).to.equal(1);
  });

  it('rolls a failed transaction back completely', async () => {
    await db.knex
      .transaction(async (trx) => {
        await trx('resource_servers').insert({ identifier: 'urn:t', scopes: [] });
        throw new Error('boom');
      })
      .catch(() => undefined);
    expect(await db.knex('resource_servers').where({ identifier: 'urn:t' }).first()).to.equal(undefined);
  });
});
