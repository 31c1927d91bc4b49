import type { Knex } from 'knex';

/**
 * The PostgreSQL processes whose CPU a bench window is charged: backends connected to the
 * bench's own databases, and the server's shared helpers (WAL writer, checkpointer,
 * autovacuum…). Backends of other databases on the same server are someone else's load.
 */
export function postgresPidsOf(knex: Knex, databases: () => string[]) {
  return async (): Promise<number[]> => {
    const result = await knex.raw(`SELECT pid FROM pg_stat_activity WHERE datname = ANY(?) OR backend_type <> 'client backend'`, [databases()]);
    return (result.rows as { pid: number }[]).map((r) => r.pid).filter((pid) => pid !== undefined);
  };
}
