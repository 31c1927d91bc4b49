import { expect } from 'chai';
import type { Knex } from 'knex';
import { loadConfig } from '../../lib/config/config.js';
import { migrateLatest, openDatabase, type Database } from '../../lib/db/database.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';

/**
 * On PostgreSQL each statement text is prepared once per connection (lib/db/prepared-statements.ts):
 * what PostgreSQL holds for the session is read back from pg_prepared_statements, on the same
 * connection (a transaction, or a pool of one).
 */
describe('statements prepared once per connection', function () {
  let testDb: TestDatabase;
  const opened: Database[] = [];
  const open = async (env: Record<string, string> = {}) => {
    const db = await openDatabase(loadConfig({ ...testDb.env, DATABASE_POOL_MAX: '1', ...env }).database);
    opened.push(db);
    return db;
  };
  const prepared = async (knex: Knex | Knex.Transaction) =>
    (await knex.raw<{ rows: Array<{ name: string; statement: string }> }>('select name, statement from pg_prepared_statements')).rows;

  before(async function () {
    if (!usingPostgres()) {
      console.log('      (skipped: statements are prepared on PostgreSQL only; set DATABASE_URL to run this)');
      return this.skip();
    }
    testDb = await createTestDatabase();
    // migrating holds a connection of its own for the lock, beside the one Knex migrates on
    const db = await open({ DATABASE_POOL_MAX: '2' });
    await migrateLatest(db.knex);
  });
  after(async () => {
    for (const db of opened) await db.close();
    await testDb?.drop();
  });

  it('prepares a statement the first time a connection runs it and reuses it after', async () => {
    const { knex } = await open();
    await knex.transaction(async (trx) => {
      for (const identifier of ['urn:p1', 'urn:p2', 'urn:p1']) await trx('resource_servers').where({ identifier }).first();
      const statements = (await prepared(trx)).filter((s) => s.statement.includes('"resource_servers"'));
      expect(statements).to.have.length(1);
      expect(statements[0]!.statement).to.match(/^select \* from "resource_servers" where "identifier" = \$1 limit \$2$/);
    });
  });

  it('answers the same with and without prepared statements, and prepares nothing when switched off', async () => {
    const on = await open();
    const off = await open({ DATABASE_PREPARED_STATEMENTS: 'false' });
    await on.knex('resource_servers').insert({ identifier: 'urn:same', scopes: ['a', 'b'] });
    for (let round = 0; round < 3; round += 1) {
      const [a, b] = await Promise.all([on, off].map((db) => db.knex('resource_servers').where({ identifier: 'urn:same' }).first()));
      expect(a).to.deep.equal(b);
      expect(a).to.include({ identifier: 'urn:same' });
    }
    expect(await prepared(off.knex)).to.deep.equal([]);
    expect((await prepared(on.knex)).length).to.be.greaterThan(0);
  });

  it('leaves DDL and several statements in one text unprepared', async () => {
    const { knex } = await open();
    await knex.raw('create temporary table scratch (n int)');
    await knex.raw('insert into scratch values (1); insert into scratch values (2)');
    const statements = await prepared(knex);
    expect(statements.filter((s) => /scratch/.test(s.statement))).to.deep.equal([]);
    expect((await knex('scratch').count({ n: '*' }).first())!.n).to.equal(2);
  });

  it('names at most 256 statement texts per connection and runs the rest unnamed', async () => {
    const { knex } = await open();
    await knex.transaction(async (trx) => {
      for (let i = 1; i <= 300; i += 1) {
        const rows = await trx.select(trx.raw(`${i}::int as n`));
        expect(rows).to.deep.equal([{ n: i }]);
      }
      expect(await prepared(trx)).to.have.length(256);
    });
  });

  /**
   * A table `db` has read with a prepared `select *`, then given a column `label` (default
   * `label`) by another connection: PostgreSQL refuses the prepared copy on its next run
   * ("cached plan must not change result type").
   */
  async function grownUnderPreparedSelect(db: Database, table: string, label: string) {
    const other = await open();
    await other.knex.schema.createTable(table, (t) => t.integer('id'));
    await other.knex(table).insert({ id: 1 });
    expect(await db.knex(table).select('*')).to.deep.equal([{ id: 1 }]);
    expect((await prepared(db.knex)).some((s) => s.statement === `select * from "${table}"`)).to.equal(true);
    await other.knex.schema.alterTable(table, (t) => t.text('label').defaultTo(label));
  }

  it('survives a column added under a prepared select * (outside a transaction: sent again)', async () => {
    const db = await open();
    await grownUnderPreparedSelect(db, 'grows', 'x');
    expect(await db.knex('grows').select('*')).to.deep.equal([{ id: 1, label: 'x' }]);
    expect(await db.knex('grows').select('*')).to.deep.equal([{ id: 1, label: 'x' }]);
  });

  it('inside a transaction, fails that transaction once and then runs unnamed', async () => {
    const db = await open();
    await grownUnderPreparedSelect(db, 'grows_in_trx', 'y');
    const failed = await db.knex.transaction((trx) => trx('grows_in_trx').select('*')).then(() => undefined, (err: { code?: string }) => err);
    expect(failed).to.have.property('code', '0A000');
    expect(await db.knex.transaction((trx) => trx('grows_in_trx').select('*'))).to.deep.equal([{ id: 1, label: 'y' }]);
  });

  it('sends a statement again when the session lost it (DISCARD ALL)', async () => {
    const { knex } = await open();
    expect(await knex('resource_servers').where({ identifier: 'urn:gone' }).select('identifier')).to.deep.equal([]);
    await knex.raw('discard all');
    expect(await knex('resource_servers').where({ identifier: 'urn:gone' }).select('identifier')).to.deep.equal([]);
  });
});
