import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/change-feed.js';
import { createReadCache } from '../db/read-cache.js';

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

/**
 * Every write of a client's metadata or existence goes through the change feed, so the
 * metadata cache of every instance forgets it; `last_used_at` is not cached and its writes
 * announce nothing.
 */
export function createClientQueries(knex: Knex, changes: ChangeFeed) {
  const table = () => knex<ClientRow>('clients');
  const metadataCache = createReadCache<Record<string, unknown>>(changes, 'clients');
  const changed = (clientId: string) => () => [clientId];
  return {
    async find(clientId: string): Promise<ClientRow | undefined> {
      return table().where({ client_id: clientId }).first();
    },

    /** A client's metadata, from memory when this instance has read it since it last changed (oidc-provider's look-up on every request). */
    async findMetadata(clientId: string): Promise<Record<string, unknown> | undefined> {
      return metadataCache.get(clientId, async () => (await table().select('metadata').where({ client_id: clientId }).first())?.metadata);
    },

    /** The metadata object the cache keeps for a client, if it keeps one (see ReadCache.peek). */
    cachedMetadata(clientId: string): Record<string, unknown> | undefined {
      return metadataCache.peek(clientId);
    },

    /** Clients registered or created by admins; Latch's own first-party clients are not listed. */
    async list(): Promise<ClientRow[]> {
      return table().whereNot({ source: 'system' }).orderBy('created_at', 'asc');
    },

    /** Inserts, or replaces the metadata of an existing client keeping its source. */
    async upsert(clientId: string, metadata: Record<string, unknown>, source: ClientSource) {
      await changes.write('clients', changed(clientId), async (trx) => {
        await trx('clients')
          .insert({ client_id: clientId, metadata: JSON.stringify(metadata), source })
          .onConflict('client_id')
          .merge({ metadata: JSON.stringify(metadata), updated_at: new Date() });
      });
    },

    async insert(clientId: string, metadata: Record<string, unknown>, source: ClientSource) {
      await changes.write('clients', changed(clientId), async (trx) => {
        await trx('clients').insert({ client_id: clientId, metadata: JSON.stringify(metadata), source });
      });
    },

    async updateMetadata(clientId: string, metadata: Record<string, unknown>): Promise<boolean> {
      const n = await changes.write('clients', changed(clientId), (trx) =>
        trx<ClientRow>('clients').where({ client_id: clientId }).update({ metadata: JSON.stringify(metadata) as never, updated_at: new Date() }),
      );
      return n === 1;
    },

    /**
     * Notes that a client was used, unless a use in the last `resolution` was already noted —
     * the condition makes a second instance's concurrent touch a no-op rather than a write.
     */
    async touchLastUsed(clientIds: readonly string[], now: Date, staleBefore: Date) {
      await table()
        .whereIn('client_id', clientIds)
        .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', staleBefore))
        .update({ last_used_at: now });
    },

    /**
     * Deletes up to `limit` dynamically registered clients not used (nor, if never used,
     * registered) since `before`, each with its grants and tokens. Returns their ids.
     */
    async deleteIdleDynamic(before: Date, limit: number): Promise<string[]> {
      return changes.write('clients', (ids) => ids, async (trx) => {
        const idle = trx('clients')
          .select('client_id')
          .where({ source: 'dynamic' })
          .andWhere(trx.raw('coalesce(last_used_at, created_at)'), '<', before)
          .limit(limit)
          .forUpdate()
          .skipLocked();
        const rows: Array<{ client_id: string }> = await trx('clients').whereIn('client_id', idle).delete().returning('client_id');
        const ids = rows.map((r) => r.client_id);
        if (ids.length) await trx('oidc_payloads').whereIn('client_id', ids).delete();
        return ids;
      });
    },

    /** Deletes the client and, in the same transaction, every grant, token and code it holds. */
    async delete(clientId: string): Promise<boolean> {
      return changes.write('clients', changed(clientId), async (trx) => {
        const n = await trx('clients').where({ client_id: clientId }).delete();
        if (n === 1) await trx('oidc_payloads').where({ client_id: clientId }).delete();
        return n === 1;
      });
    },
  };
}
