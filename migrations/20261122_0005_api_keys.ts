import type { Knex } from 'knex';

/**
 * API keys (SECURITY.md F.38): owned by one account or by one organization, shown once, stored
 * only as a keyed hash (HMAC-SHA-256 under a server key held in the `keys` table, sealed with
 * LATCH_SECRET), scoped, optionally limited to one resource, labelled, expiring, revocable, and
 * rotatable with a grace period for the previous secret.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    // the public half of the key (`latch_<public_id>_<secret>`), shown in listings and logs
    t.text('public_id').notNullable().unique();
    t.text('account_id').references('accounts.id').onDelete('CASCADE');
    t.text('org_id').references('organizations.id').onDelete('CASCADE');
    // who made an organization's key; the key stays the organization's if that person leaves
    t.text('created_by').references('accounts.id').onDelete('SET NULL');
    t.text('name').notNullable();
    // base64url HMAC-SHA-256 of the whole key; never the key itself
    t.text('secret_hash').notNullable();
    // after a rotation, the previous secret's hash, valid until previous_expires_at
    t.text('previous_secret_hash');
    t.timestamp('previous_expires_at', { useTz: true });
    t.specificType('scopes', 'text[]').notNullable();
    // the one resource (RFC 8707 identifier) the key is limited to, if any
    t.text('resource');
    // key=value pairs that narrow the key further (project=42); reported by introspection
    t.jsonb('labels').notNullable().defaultTo('{}');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // updated at most once a minute per key, so a busy key does not write on every call
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('rotated_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.index(['account_id']);
    t.index(['org_id']);
  });
  await knex.raw('ALTER TABLE api_keys ADD CONSTRAINT api_keys_one_owner CHECK ((account_id IS NULL) <> (org_id IS NULL))');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_keys');
  await knex('keys').where({ use: 'api-key-hmac' }).delete();
}
