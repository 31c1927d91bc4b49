import type { Knex } from 'knex';

/**
 * One batch of a clean-up (SECURITY.md G.44): deletes at most `limit` rows of `table` matching
 * `where`, in one short statement. It locks only the rows it takes — FOR UPDATE SKIP LOCKED
 * leaves rows another transaction holds for the next batch instead of waiting for them — and
 * the table only in ROW EXCLUSIVE mode, which blocks no reader or writer. Returns how many went.
 * The prune job (lib/jobs/prune.ts) calls it again until a batch comes back short.
 */
export async function deleteBatch(knex: Knex, table: string, where: (q: Knex.QueryBuilder) => void, limit: number): Promise<number> {
  const batch = knex(table).select('ctid').where(where).limit(limit).forUpdate().skipLocked();
  return knex(table).whereIn('ctid', batch).delete();
}
