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
