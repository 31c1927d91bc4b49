import type { Knex } from 'knex';

/**
 * rate-limiter-flexible's PostgreSQL limiter speaks to a pg-style `query({text, values})`
 * client. This adapter lets it run through Knex, so the same counters live in PGlite or in
 * PostgreSQL (the `rate_limits` table, created by a migration).
 */
export function knexRateLimitClient(knex: Knex) {
  return {
    async query(q: { text: string; values?: unknown[] }) {
      const values: unknown[] = [];
      // $n placeholders become positional ? bindings, in the order they occur (a $n may repeat)
      const sql = q.text.replace(/\?/g, '\\?').replace(/\$(\d+)/g, (_, n: string) => {
        values.push(q.values?.[Number(n) - 1]);
        return '?';
      });
      const result = await knex.raw(sql, values as Knex.RawBinding[]);
      const rows = (result.rows ?? []) as unknown[];
      // PGlite reports rowCount 0 for a SELECT that returned rows; the limiter's get() reads
      // rowCount 0 as "no counter", which would let every throttled sign-in through
      return { rows, rowCount: rows.length || (result.rowCount ?? 0) };
    },
  };
}
