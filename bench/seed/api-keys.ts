import type { Container } from '../../lib/container.js';
import type { SeedNote } from './optional-tables.js';

/**
 * API keys through Latch's own API-key service (its hashing, its table), owned by the seeded
 * accounts in turn, each good for Latch's API (api:read) and for the bench resource (read).
 * The plaintext keys stay in this process's memory for the load, never written anywhere.
 */
const CONCURRENCY = 8;

export async function seedApiKeys(container: Container, count: number, accountIds: string[]): Promise<{ note: SeedNote; keys: string[] }> {
  if (!('apiKeys' in container) || !(await container.knex.schema.hasTable('api_keys'))) {
    return { note: { table: 'api_keys', status: 'skipped', rows: 0, note: `no API keys in this Latch; ${count} keys not seeded` }, keys: [] };
  }
  const keys: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const created = await container.apiKeys.admin.create({ owner: accountIds[i % accountIds.length], name: `Bench key ${i}`, scopes: ['api:read', 'read'], expiresIn: '30d' });
      keys[i] = created.key;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
    return { note: { table: 'api_keys', status: 'seeded', rows: count, note: 'through the API-key service; scopes api:read and read' }, keys };
  } catch (err) {
    return { note: { table: 'api_keys', status: 'failed', rows: 0, note: (err as Error).message }, keys: [] };
  }
}
