import { expect } from 'chai';
import { loadConfig } from '../../lib/config/config.js';
import { migrateLatest, openDatabase, type Database } from '../../lib/db/database.js';
import { createVacuumJob } from '../../lib/jobs/vacuum.js';
import { createLogger } from '../../lib/log.js';
import { createTestDatabase, usingPostgres } from '../support/database.js';

/**
 * PGlite has no autovacuum worker, so Latch vacuums the embedded database itself: the tables
 * whose dead rows pass autovacuum's threshold are vacuumed, the others left alone.
 */
describe('vacuuming the embedded database', () => {
  let db: Database;

  before(async function () {
    if (usingPostgres()) {
      console.log('\n  NOTICE: PostgreSQL vacuums by itself; this checks the embedded database only\n');
      this.skip();
    }
    const testDb = await createTestDatabase();
    db = await openDatabase(loadConfig({ ...testDb.env, ISSUER: 'http://localhost:3000', LATCH_SECRET: 'test-secret-that-is-long-enough-0123456789' }).database);
    await migrateLatest(db.knex);
  });
  after(() => db?.close());

  const deadRows = async (table: string) =>
    Number(((await db.knex.raw(`select n_dead_tup from pg_stat_user_tables where relname = ?`, [table])) as { rows: Array<{ n_dead_tup: string | number }> }).rows[0]!.n_dead_tup);

  it('vacuums a table whose dead rows pass the threshold, and only that one', async () => {
    const key = 'vacuum-test';
    await db.knex('rate_limits').insert({ key, points: 0, expire: null });
    for (let i = 0; i < 120; i += 1) await db.knex('rate_limits').where({ key }).increment('points', 1);
    // table statistics are flushed at most once a second, at the end of a later transaction
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await db.knex('rate_limits').where({ key }).increment('points', 1);
    expect(await deadRows('rate_limits')).to.be.greaterThan(50);

    const vacuumed = await createVacuumJob({ knex: db.knex, log: createLogger('silent') }).runOnce();
    expect(vacuumed).to.include('rate_limits');
    expect(vacuumed).to.not.include('accounts');
    expect(await deadRows('rate_limits')).to.equal(0);
    expect(await createVacuumJob({ knex: db.knex, log: createLogger('silent') }).runOnce()).to.deep.equal([]);
  });
});
