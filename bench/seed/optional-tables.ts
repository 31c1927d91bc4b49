import argon2 from 'argon2';
import type { Knex } from 'knex';

/**
 * Data for features that may not exist yet: seeded only when their table does, otherwise
 * reported as skipped. Columns are matched by name so a table that grows keeps working.
 */
export type SeedNote = { table: string; status: 'seeded' | 'skipped' | 'failed'; rows: number; note: string };

const BENCH_PASSWORD = 'correct horse battery staple, bench only';

export async function seedAccounts(knex: Knex, count: number): Promise<{ note: SeedNote; accountIds: string[] }> {
  const syntheticIds = Array.from({ length: count }, (_, i) => `bench-account-${i}`);
  if (!(await knex.schema.hasTable('accounts'))) {
    return { note: { table: 'accounts', status: 'skipped', rows: 0, note: 'no accounts table yet; tokens carry synthetic account ids' }, accountIds: syntheticIds };
  }
  try {
    const columns = Object.keys(await knex('accounts').columnInfo());
    // one argon2id hash shared by every seeded account: the stored shape is what matters here
    const passwordHash = await argon2.hash(BENCH_PASSWORD, { type: argon2.argon2id });
    const rows = syntheticIds.map((id, i) => {
      const email = `bench-${i}@bench.example`;
      const candidate: Record<string, unknown> = { id, email, email_normalized: email, name: `Bench person ${i}`, password_hash: passwordHash, email_verified: true };
      return Object.fromEntries(Object.entries(candidate).filter(([key]) => columns.includes(key)));
    });
    for (let i = 0; i < rows.length; i += 500) await knex('accounts').insert(rows.slice(i, i + 500));
    return { note: { table: 'accounts', status: 'seeded', rows: rows.length, note: 'one shared argon2id hash (library defaults)' }, accountIds: syntheticIds };
  } catch (err) {
    return { note: { table: 'accounts', status: 'failed', rows: 0, note: (err as Error).message }, accountIds: syntheticIds };
  }
}
