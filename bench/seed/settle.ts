import type { Knex } from 'knex';

/**
 * After bulk seeding: vacuum and analyze so autovacuum does not start in the middle of a
 * measured window, and checkpoint so the seed's WAL is not flushed during one either
 * (CHECKPOINT needs superuser or pg_checkpoint; without it the step is skipped).
 */
export async function settleDatabase(knex: Knex): Promise<void> {
  await knex.raw('VACUUM ANALYZE');
  await knex.raw('CHECKPOINT').catch(() => undefined);
}
