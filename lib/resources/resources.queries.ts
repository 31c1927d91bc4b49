import type { Knex } from 'knex';

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

export function createResourceQueries(knex: Knex) {
  const table = () => knex<ResourceServerRow>('resource_servers');
  return {
    async find(identifier: string) {
      return table().where({ identifier }).first();
    },
    async list() {
      return table().orderBy('identifier');
    },
    async insert(row: Omit<ResourceServerRow, 'created_at' | 'updated_at'>) {
      await table().insert(row);
    },
    async update(identifier: string, changes: Partial<Omit<ResourceServerRow, 'identifier' | 'created_at'>>) {
      const n = await table().where({ identifier }).update({ ...changes, updated_at: new Date() });
      return n === 1;
    },
    async delete(identifier: string) {
      const n = await table().where({ identifier }).delete();
      return n === 1;
    },
  };
}
