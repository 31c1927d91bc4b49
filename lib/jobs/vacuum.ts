import type { Knex } from 'knex';
import type { Logger } from '../log.js';
import { createIntervalJob } from './interval-job.js';

/**
 * The embedded database (PGlite) is PostgreSQL in single-user mode: it has none of a server's
 * background workers, so this job does two of their jobs each minute.
 *
 * Autovacuum's: the dead rows that every UPDATE and DELETE leaves (sessions saved on each
 * request, consumed codes, rotated tokens, throttle counters, pruned rows) pile up and every
 * scan and index look-up gets slower the longer Latch runs. The tables whose dead rows pass
 * autovacuum's own threshold (50 + 20 % of the live rows) are vacuumed and analyzed.
 *
 * The checkpointer's: a single-user backend never checkpoints on its own — not after
 * checkpoint_timeout, not at max_wal_size — only when it shuts down. Until then every WAL
 * segment is kept (measured: 1.75 GB of WAL in pg_wal, past max_wal_size, and the last
 * checkpoint still the one from startup), so the data directory grows by all the WAL Latch
 * writes (about 1.5 MB a minute under the soak's 10 operations a second, some 2 GB a day) and
 * a crash is followed by replaying all of it. Once the WAL since
 * the last checkpoint passes CHECKPOINT_WAL_BYTES, the job checkpoints, after which
 * PostgreSQL removes or recycles the segments it no longer needs.
 *
 * A real PostgreSQL server does both by itself.
 */
const INTERVAL_MS = 60_000;
const BASE_THRESHOLD = 50;
const SCALE_FACTOR = 0.2;
const CHECKPOINT_WAL_BYTES = 64 * 1024 * 1024;
const SAFE_NAME = /^[a-z_][a-z0-9_]*$/;

export type VacuumJob = ReturnType<typeof createVacuumJob>;
export type VacuumRun = { tables: string[]; checkpointed: boolean };

export function createVacuumJob(deps: { knex: Knex; log: Logger; intervalMs?: number; checkpointWalBytes?: number }) {
  const checkpointWalBytes = deps.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES;

  async function vacuumTables(): Promise<string[]> {
    const { rows } = (await deps.knex.raw(
      `select relname from pg_stat_user_tables where schemaname = 'public' and n_dead_tup > ?::float8 + ?::float8 * n_live_tup order by n_dead_tup desc`,
      [BASE_THRESHOLD, SCALE_FACTOR],
    )) as { rows: Array<{ relname: string }> };
    const vacuumed: string[] = [];
    for (const { relname } of rows) {
      if (!SAFE_NAME.test(relname)) continue;
      await deps.knex.raw(`vacuum (analyze) "${relname}"`);
      vacuumed.push(relname);
    }
    return vacuumed;
  }

  /** Bytes of WAL written since the redo point of the last checkpoint. */
  async function walSinceCheckpoint(): Promise<number> {
    const { rows } = (await deps.knex.raw(`select pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn)::float8 as bytes from pg_control_checkpoint()`)) as { rows: Array<{ bytes: number }> };
    return Number(rows[0]!.bytes);
  }

  async function runOnce(): Promise<VacuumRun> {
    const tables = await vacuumTables();
    const checkpointed = (await walSinceCheckpoint()) >= checkpointWalBytes;
    if (checkpointed) await deps.knex.raw('checkpoint');
    return { tables, checkpointed };
  }

  const job = createIntervalJob(runOnce, {
    intervalMs: deps.intervalMs ?? INTERVAL_MS,
    onResult: ({ tables, checkpointed }, ms) => {
      if (tables.length || checkpointed) deps.log.debug({ tables, checkpointed, ms }, 'vacuumed the embedded database');
    },
    onError: (err) => deps.log.warn({ err }, 'vacuum of the embedded database failed; will retry'),
  });

  return { runOnce, walSinceCheckpoint, ...job };
}
