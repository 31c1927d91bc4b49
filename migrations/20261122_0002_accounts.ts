import type { Knex } from 'knex';

/** People, their one-time e-mail tokens, remembered consents, and shared throttling counters. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.text('id').primary();
    t.text('email').notNullable();
    // lower-cased, trimmed: e-mail addresses are unique case-insensitively
    t.text('email_normalized').notNullable().unique();
    t.text('name');
    // argon2id PHC string; null for accounts that only sign in another way
    t.text('password_hash');
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.boolean('disabled').notNullable().defaultTo(false);
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_login_at', { useTz: true });
    t.timestamp('password_changed_at', { useTz: true });
  });

  await knex.schema.createTable('email_tokens', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    // 'verify-email' or 'reset-password'
    t.text('purpose').notNullable();
    // SHA-256 of the token; the token itself exists only in the e-mail
    t.text('token_hash').notNullable().unique();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id', 'purpose']);
  });

  await knex.schema.createTable('consents', (t) => {
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    t.text('client_id').notNullable();
    t.specificType('scopes', 'text[]').notNullable().defaultTo('{}');
    // { "<resource indicator>": "scope scope" }
    t.jsonb('resource_scopes').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['account_id', 'client_id']);
  });

  // rate-limiter-flexible's PostgreSQL table, created here rather than at run time
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire');
  });
  await knex.raw('CREATE INDEX rate_limits_expire ON rate_limits (expire)');

  // sessions, grants and tokens by account, to end them all at once (reset, sign out everywhere)
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.text('account_id');
  });
  await knex.raw('CREATE INDEX oidc_payloads_account_id ON oidc_payloads (account_id) WHERE account_id IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.dropColumn('account_id');
  });
  await knex.schema.dropTable('rate_limits');
  await knex.schema.dropTable('consents');
  await knex.schema.dropTable('email_tokens');
  await knex.schema.dropTable('accounts');
}
