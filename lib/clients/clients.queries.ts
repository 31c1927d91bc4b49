import type { Knex } from 'knex';

// 'system': Latch's own first-party clients (the account pages)
export type ClientSource = 'admin' | 'dynamic' | 'system';

export type ClientRow = {
  client_id: string;
  metadata: Record<string, unknown>;
  source: ClientSource;
  created_at: Date;
  updated_at: Date;
  last_used_at: Date | null;
};

export type ClientQueries = ReturnType<typeof createClientQueries>;

export function createClientQueries(knex: Knex) {
  const table = () => knex<ClientRow>('clients');
  return {
    async find(clientId: string): Promise<ClientRow | undefined> {
      return table().where({ client_id: clientId }).first();
    },

    /** Clients registered or created by admins; Latch's own first-party clients are not listed. */
    async list(): Promise<ClientRow[]> {
      return table().whereNot({ source: 'system' }).orderBy('created_at', 'asc');
    },

    /** Inserts, or replaces the metadata of an existing client keeping its source. */
    async upsert(clientId: string, metadata: Record<string, unknown>, source: ClientSource) {
      await knex('clients')
        .insert({ client_id: clientId, metadata: JSON.stringify(metadata), source })
        .onConflict('client_id')
        .merge({ metadata: JSON.stringify(metadata), updated_at: new Date() });
    },

    async insert(clientId: string, metadata: Record<string, unknown>, source: ClientSource) {
      await knex('clients').insert({ client_id: clientId, metadata: JSON.stringify(metadata), source });
    },

    async updateMetadata(clientId: string, metadata: Record<string, unknown>): Promise<boolean> {
      const n = await table().where({ client_id: clientId }).update({ metadata: JSON.stringify(metadata) as never, updated_at: new Date() });
      return n === 1;
    },

    /** Deletes the client and, in the same transaction, every grant, token and code it holds. */
    async delete(clientId: string): Promise<boolean> {
      return knex.transaction(async (trx) => {
        const n = await trx('clients').where({ client_id: clientId }).delete();
        if (n === 1) await trx('oidc_payloads').where({ client_id: clientId }).delete();
        return n === 1;
      });
    },
  };
}
