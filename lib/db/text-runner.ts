import type { Knex } from 'knex';

/**
 * Runs written-out statements (statement-text.ts) through Knex's client itself: a connection
 * from Knex's pool, the client's `query` (its `query` event, statements prepared once per
 * connection on PostgreSQL, pg or PGlite beneath, as for every other statement), and the
 * connection back. Left out is what `knex.raw` builds around each statement on the way: a Raw
 * object that copies the text and its bindings, a Runner that wraps the connection and the
 * response, and a new copy of the text with its `?` placeholders rewritten to `$n` on every
 * call (here made once per text; the client still scans the text it is given for `?`, finds
 * none and keeps it as it is). Only statements outside a transaction come here; a transaction's go through its
 * own Knex object.
 */
type Client = {
  acquireConnection(): Promise<object>;
  releaseConnection(connection: object): Promise<void>;
  positionBindings(sql: string): string;
  query(connection: object, query: { sql: string; bindings: readonly unknown[]; method: 'raw'; options: object; queryContext?: unknown }): Promise<{ response: { rows: unknown[] } }>;
};

export type TextRunner = <Row>(sql: string, bindings: readonly unknown[], queryContext?: unknown) => Promise<Row[]>;

export function createTextRunner(knex: Knex): TextRunner {
  const client = knex.client as unknown as Client;
  const positional = new Map<string, string>();
  return async <Row>(sql: string, bindings: readonly unknown[], queryContext?: unknown) => {
    let text = positional.get(sql);
    if (text === undefined) positional.set(sql, (text = client.positionBindings(sql)));
    const connection = await client.acquireConnection();
    try {
      const { response } = await client.query(connection, { sql: text, bindings, method: 'raw', options: {}, ...(queryContext === undefined ? {} : { queryContext }) });
      return response.rows as Row[];
    } finally {
      await client.releaseConnection(connection);
    }
  };
}
