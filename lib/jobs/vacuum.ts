import type { Knex } from 'knex';
import type { Logger } from '../log.js';
import { createIntervalJob } from './interval-job.js';

/**
 * The embedded database (PGlite) is PostgreSQL in single-user mode: it has no autovacuum
 * worker, so the dead rows that every UPDATE and DELETE leaves (sessions saved on each
 * request, consumed codes, rotated tokens, throttle counters, pruned rows) pile up and every
 * scan and index look-up gets slower the longer Latch runs. This job does autovacuum's work:
 * each minute it vacuums and analyzes the tables whose dead rows pass autovacuum's own
 * threshold (50 + 20 % of the live rows). A real PostgreSQL server vacuums by itself.
 */
const INTERVAL_MS = 60_000;
const BASE_THRESHOLD = 50;
const SCALE_FACTOR = 0.2;
const SAFE_NAME = /^[a-z_][a-z0-9_]*$/;

export type VacuumJob = ReturnType<typeof createVacuumJob>;

export function createVacuumJob(deps: { knex: Knex; log: Logger; intervalMs?: number }) {
  async function runOnce(): Promise<string[]> {
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

  const job = createIntervalJob(runOnce, {
    intervalMs: deps.intervalMs ?? INTERVAL_MS,
    onResult: (tables) => {
      if (tables.length) deps.log.debug({ tables }, 'vacuumed the embedded database');
    },
    onError: (err) => deps.log.warn({ err }, 'vacuum of the embedded database failed; will retry'),
  });

  return { runOnce, ...job };
}
