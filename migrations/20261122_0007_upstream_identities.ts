import type { Knex } from 'knex';

/**
 * Sign-in through another identity provider (GitHub, Google, Microsoft, any OpenID provider):
 * the providers an admin added (secrets sealed with LATCH_SECRET), the identities linked to
 * accounts (provider + the provider's stable subject, never the e-mail), and the upstream
 * sign-ins in flight (state, nonce and PKCE verifier, bound to one browser).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('upstream_providers', (t) => {
    // a short slug, also the path segment of the callback (/upstream/<id>/callback)
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('issuer').notNullable();
    t.text('client_id').notNullable();
    // sealed with LATCH_SECRET (lib/crypto/seal.ts), context `upstream:<id>`
    t.text('client_secret_sealed').notNullable();
    t.text('scope').notNullable().defaultTo('openid email profile');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('upstream_identities', (t) => {
    t.text('provider_id').notNullable();
    // the provider's stable subject: `sub` of an OpenID provider, the numeric id on GitHub
    t.text('subject').notNullable();
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    // what the provider said at the last sign-in, for the account page
    t.text('email');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.primary(['provider_id', 'subject']);
    // one identity per provider per account
    t.unique(['account_id', 'provider_id']);
  });

  await knex.schema.createTable('upstream_sign_ins', (t) => {
    t.text('id').primary();
    // SHA-256 of the `state` sent upstream, and of the value in the browser's cookie
    t.text('state_hash').notNullable().unique();
    t.text('browser_hash').notNullable();
    t.text('provider_id').notNullable();
    // 'sign-in' (from a hosted sign-in page) or 'link' (from /account)
    t.text('purpose').notNullable();
    t.text('interaction_uid');
    t.text('account_id').references('accounts.id').onDelete('CASCADE');
    t.text('code_verifier').notNullable();
    t.text('nonce');
    // after the callback: who the provider says the person is, until the interaction takes it
    t.jsonb('profile');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['interaction_uid']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('upstream_sign_ins');
  await knex.schema.dropTable('upstream_identities');
  await knex.schema.dropTable('upstream_providers');
}
