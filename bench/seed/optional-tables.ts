import type { Knex } from 'knex';
import { hashPassword } from '../../lib/accounts/passwords.js';

/**
 * Data for features that may not exist yet: seeded only when their table does, otherwise
 * reported as skipped. Columns are matched by name so a table that grows keeps working.
 */
export type SeedNote = { table: string; status: 'seeded' | 'skipped' | 'failed'; rows: number; note: string };

export const BENCH_PASSWORD = 'correct horse battery staple, bench only';

export type SeededAccounts = { note: SeedNote; accountIds: string[]; emails: string[]; passwordHash?: string };

export async function seedAccounts(knex: Knex, count: number): Promise<SeededAccounts> {
  const syntheticIds = Array.from({ length: count }, (_, i) => `bench-account-${i}`);
  const emails = syntheticIds.map((_, i) => `bench-${i}@bench.example`);
  if (!(await knex.schema.hasTable('accounts'))) {
    return { note: { table: 'accounts', status: 'skipped', rows: 0, note: 'no accounts table yet; tokens carry synthetic account ids' }, accountIds: syntheticIds, emails };
  }
  try {
    const columns = Object.keys(await knex('accounts').columnInfo());
    // one argon2id hash at Latch's own parameters, shared by every seeded account: a sign-in
    // costs what it costs in production, and no sign-in rehashes
    const passwordHash = await hashPassword(BENCH_PASSWORD);
    const rows = syntheticIds.map((id, i) => {
      const email = emails[i]!;
      const candidate: Record<string, unknown> = { id, email, email_normalized: email, name: `Bench person ${i}`, password_hash: passwordHash, email_verified: true };
      return Object.fromEntries(Object.entries(candidate).filter(([key]) => columns.includes(key)));
    });
    for (let i = 0; i < rows.length; i += 500) await knex('accounts').insert(rows.slice(i, i + 500));
    return { note: { table: 'accounts', status: 'seeded', rows: rows.length, note: "one shared argon2id hash at Latch's production parameters" }, accountIds: syntheticIds, emails, passwordHash };
  } catch (err) {
    return { note: { table: 'accounts', status: 'failed', rows: 0, note: (err as Error).message }, accountIds: syntheticIds, emails };
  }
}
