import type { Knex } from 'knex';

/** A statement as knex's `query` event reports it. */
export type QueryEvent = { sql: string; bindings?: unknown[]; queryContext?: { rows?: string[] } };

/** Runs `fn` and returns what it returned with every statement `knex` sent meanwhile, in order. */
export async function queriesDuring<T>(knex: Knex, fn: () => Promise<T>): Promise<{ result: T; queries: QueryEvent[] }> {
  const queries: QueryEvent[] = [];
  const listener = (q: QueryEvent) => queries.push(q);
  knex.on('query', listener);
  try {
    return { result: await fn(), queries };
  } finally {
    knex.removeListener('query', listener);
  }
}

/**
 * PostgreSQL's EXPLAIN (format json) of `sql` (a statement as sent, with $1… placeholders) in
 * the generic plan a prepared statement keeps after its first five runs, executed with
 * `args` (SQL expressions). `options` go into EXPLAIN's list beside the format; `settings`
 * (`enable_seqscan = off`, say) hold for the one transaction it runs in.
 */
export async function explainGenericPlan(knex: Knex, sql: string, args: string[], opts: { options?: string[]; settings?: string[] } = {}) {
  return knex.transaction(async (trx) => {
    for (const setting of [...(opts.settings ?? []), 'plan_cache_mode = force_generic_plan']) await trx.raw(`set local ${setting}`);
    await trx.raw(`prepare generic_plan_probe as ${sql}`);
    const explained = await trx.raw(`explain (${[...(opts.options ?? []), 'format json'].join(', ')}) execute generic_plan_probe(${args.join(', ')})`);
    await trx.raw('deallocate generic_plan_probe');
    return (explained as { rows: Array<{ 'QUERY PLAN': Array<{ Plan: Record<string, unknown> }> }> }).rows[0]!['QUERY PLAN'];
  });
}
