import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/change-feed.js';
import { createReadCache } from '../db/read-cache.js';

export type ResourceServerRow = {
  identifier: string;
  name: string | null;
  scopes: string[];
  token_format: 'jwt' | 'opaque';
  access_token_ttl: number | null;
  created_at: Date;
  updated_at: Date;
};

export type ResourceQueries = ReturnType<typeof createResourceQueries>;

/** Resource servers are read on every token request: `find` is cached, and every write announced (change-feed.ts). */
export function createResourceQueries(knex: Knex, changes: ChangeFeed) {
  const table = () => knex<ResourceServerRow>('resource_servers');
  const cache = createReadCache<ResourceServerRow>(changes, 'resource_servers');
  const changed = (identifier: string) => () => [identifier];
  return {
    async find(identifier: string): Promise<ResourceServerRow | undefined> {
      return cache.get(identifier, () => table().where({ identifier }).first());
    },
    async list() {
      return table().orderBy('identifier');
    },
    async insert(row: Omit<ResourceServerRow, 'created_at' | 'updated_at'>) {
      await changes.write('resource_servers', changed(row.identifier), async (trx) => {
        await trx('resource_servers').insert(row);
      });
    },
    async update(identifier: string, update: Partial<Omit<ResourceServerRow, 'identifier' | 'created_at'>>) {
      const n = await changes.write('resource_servers', changed(identifier), (trx) =>
        trx<ResourceServerRow>('resource_servers').where({ identifier }).update({ ...update, updated_at: new Date() }),
      );
      return n === 1;
    },
    async delete(identifier: string) {
      const n = await changes.write('resource_servers', changed(identifier), (trx) => trx('resource_servers').where({ identifier }).delete());
      return n === 1;
    },
  };
}
