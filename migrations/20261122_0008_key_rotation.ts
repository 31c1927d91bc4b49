import type { Knex } from 'knex';

/**
 * Key rotation without restart (SECURITY.md G.43). A rotation inserts a 'next' key that is
 * published (signing keys in the JWKS, cookie keys as verify-only) and says when it will start
 * signing, `activates_at`, late enough that every instance has loaded it by then. The key it
 * replaces becomes 'retiring' (still published, no longer signing) until `expires_at`, when its
 * last token or cookie can have expired, and is then 'retired' (kept for the record only).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('keys', (t) => {
    t.timestamp('activates_at', { useTz: true });
  });
  // the first schema named the published-until-expiry state 'retired'; it is 'retiring' now
  await knex('keys').where({ status: 'retired' }).whereNotNull('expires_at').where('expires_at', '>', knex.fn.now()).update({ status: 'retiring' });
}

export async function down(knex: Knex): Promise<void> {
  await knex('keys').where({ status: 'retiring' }).update({ status: 'retired' });
  await knex.schema.alterTable('keys', (t) => {
    t.dropColumn('activates_at');
  });
}
