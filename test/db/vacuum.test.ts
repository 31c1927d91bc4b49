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

    const { tables } = await createVacuumJob({ knex: db.knex, log: createLogger('silent') }).runOnce();
    expect(tables).to.include('rate_limits');
    expect(tables).to.not.include('accounts');
    expect(await deadRows('rate_limits')).to.equal(0);
    expect((await createVacuumJob({ knex: db.knex, log: createLogger('silent') }).runOnce()).tables).to.deep.equal([]);
  });

  it('checkpoints once the WAL since the last checkpoint passes the limit, and not before', async () => {
    // PGlite is a single-user backend: nothing else ever checkpoints while it runs
    const limit = 4 * 1024 * 1024;
    const job = createVacuumJob({ knex: db.knex, log: createLogger('silent'), checkpointWalBytes: limit });
    const redo = async () => ((await db.knex.raw('select redo_lsn::text as lsn from pg_control_checkpoint()')) as { rows: Array<{ lsn: string }> }).rows[0]!.lsn;
    const walFiles = async () => Number(((await db.knex.raw(`select count(*)::int as n from pg_ls_waldir()`)) as { rows: Array<{ n: number }> }).rows[0]!.n);

    if ((await job.walSinceCheckpoint()) >= limit) await job.runOnce();
    const before = await redo();
    expect((await job.runOnce()).checkpointed).to.equal(false);
    expect(await redo()).to.equal(before);

    // about 40 MB of WAL per round (more than two 16 MB segments, ten times the limit)
    const writeWal = async () => {
      await db.knex.raw('create table wal_filler (v text)');
      for (let i = 0; i < 20; i += 1) await db.knex.raw(`insert into wal_filler select repeat(md5(g::text), 60) from generate_series(1, 1000) g`);
      await db.knex.raw('drop table wal_filler');
    };
    await writeWal();
    expect(await job.walSinceCheckpoint()).to.be.greaterThan(limit);
    expect((await job.runOnce()).checkpointed).to.equal(true);
    expect(await redo()).to.not.equal(before);
    expect(await job.walSinceCheckpoint()).to.be.below(limit);
    expect((await job.runOnce()).checkpointed).to.equal(false);

    // four more rounds, 200 MB of WAL in all: without checkpoints pg_wal keeps every segment
    // (13 of 16 MB); with them, the old ones are removed or recycled, near min_wal_size (80 MB)
    for (let round = 0; round < 4; round += 1) {
      await writeWal();
      expect((await job.runOnce()).checkpointed).to.equal(true);
    }
    expect(await walFiles()).to.be.at.most(6);
  });
});
