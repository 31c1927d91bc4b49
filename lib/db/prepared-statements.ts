import type { Knex } from 'knex';
// Knex's PostgreSQL client, the class `client: 'pg'` stands for (knex-pglite extends it too)
import ClientPG from 'knex/lib/dialects/postgres/index.js';

/**
 * Knex's pg client, with each statement prepared once per connection. Knex sends every query
 * unnamed, so PostgreSQL parses and plans it again each time: for the short look-ups and writes
 * a token request makes, that is about half of PostgreSQL's CPU per query (0.12 → 0.065 ms for
 * a token look-up by primary key, 10,000 in a row on one connection), and PostgreSQL shares the
 * cores with Latch. Here each statement text gets a name on the connection it runs on, and pg
 * sends it to be parsed only the first time (pg keeps the names it has prepared per connection).
 *
 * - Only single data statements (SELECT, INSERT, UPDATE, DELETE, WITH) are named; DDL and
 *   anything with a `;` in it go as before.
 * - A connection names its first 256 statement texts and sends any other unnamed, so a text
 *   that varies (an IN list of each length a batch has had) cannot grow the session without
 *   bound; the hot statements are among the first any connection meets.
 * - A migration that changes a table's columns makes PostgreSQL refuse a prepared
 *   `select *` once ("cached plan must not change result type"), and a statement that is gone
 *   from the session (`DISCARD ALL`) is refused as unknown. Either way that text is not named on
 *   that connection again, and a statement outside a transaction is sent again unnamed (it was
 *   refused before it ran); inside one, the transaction has failed and the error is its caller's.
 * - Behind a pooler that hands each transaction a different server connection (PgBouncer in
 *   transaction mode before 1.21) names cannot work: `DATABASE_PREPARED_STATEMENTS=false`.
 */
const MAX_NAMED_PER_CONNECTION = 256;
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i;

type PgConnection = { __knexTxId?: string };
type QueryObject = { sql: string; options?: Record<string, unknown> };
type NamesOnConnection = { names: Map<string, string | null>; next: number };

const namesByConnection = new WeakMap<PgConnection, NamesOnConnection>();

function nameFor(connection: PgConnection, sql: string): string | undefined {
  let state = namesByConnection.get(connection);
  if (!state) namesByConnection.set(connection, (state = { names: new Map(), next: 0 }));
  const known = state.names.get(sql);
  if (known !== undefined) return known ?? undefined;
  if (state.next >= MAX_NAMED_PER_CONNECTION || !PREPARABLE.test(sql) || sql.includes(';')) return undefined;
  const name = `latch_${state.next++}`;
  state.names.set(sql, name);
  return name;
}

/** PostgreSQL refused a named statement because of the session's prepared copy of it */
function isStalePreparedStatement(err: unknown): boolean {
  const { code, message } = err as { code?: string; message?: string };
  return (code === '0A000' && /cached plan must not change result type/.test(message ?? '')) || code === '26000';
}

type PgClientBase = new (config: Knex.Config) => { _query(connection: PgConnection, obj: QueryObject): Promise<unknown> };

export class PreparingPgClient extends (ClientPG as unknown as PgClientBase) {
  override async _query(connection: PgConnection, obj: QueryObject): Promise<unknown> {
    const name = obj.options?.name === undefined ? nameFor(connection, obj.sql) : undefined;
    if (!name) return super._query(connection, obj);
    try {
      // Knex carries on with the object _query resolves to, here this copy with the response
      return await super._query(connection, { ...obj, options: { ...obj.options, name } });
    } catch (err) {
      if (!isStalePreparedStatement(err)) throw err;
      namesByConnection.get(connection)?.names.set(obj.sql, null);
      if (connection.__knexTxId) throw err;
      return super._query(connection, obj);
    }
  }
}
