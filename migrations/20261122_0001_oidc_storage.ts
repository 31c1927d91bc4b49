import type { Knex } from 'knex';

/**
 * Storage for oidc-provider's models: one table keyed by (model, id) with a jsonb payload
 * and the columns the adapter looks things up by. Clients and resource servers have their
 * own tables; key material has its own as well.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.text('model').notNullable();
    t.text('id').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('client_id');
    t.text('user_code');
    t.text('uid');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.primary(['model', 'id']);
  });
  await knex.raw('CREATE INDEX oidc_payloads_grant_id ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL');
  await knex.raw('CREATE INDEX oidc_payloads_client_id ON oidc_payloads (client_id) WHERE client_id IS NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX oidc_payloads_user_code ON oidc_payloads (model, user_code) WHERE user_code IS NOT NULL');
  await knex.raw('CREATE INDEX oidc_payloads_uid ON oidc_payloads (model, uid) WHERE uid IS NOT NULL');
  await knex.raw('CREATE INDEX oidc_payloads_expires_at ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL');

  await knex.schema.createTable('clients', (t) => {
    t.text('client_id').primary();
    t.jsonb('metadata').notNullable();
    // 'admin' when created with the CLI or console, 'dynamic' when registered over RFC 7591
    t.text('source').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
  });

  await knex.schema.createTable('resource_servers', (t) => {
    t.text('identifier').primary();
    t.text('name');
    t.specificType('scopes', 'text[]').notNullable().defaultTo('{}');
    t.text('token_format').notNullable().defaultTo('jwt');
    t.integer('access_token_ttl');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('keys', (t) => {
    t.text('kid').primary();
    // 'signing' keys sign tokens and are published in the JWKS; 'cookie' keys sign cookies
    t.text('use').notNullable();
    t.text('alg').notNullable();
    t.jsonb('public_jwk');
    // the private JWK (or cookie secret), sealed with LATCH_SECRET when it is set
    t.text('sealed_private').notNullable();
    // 'next' (published, not yet signing), 'current' (signing), 'retired' (published until expiry)
    t.text('status').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('activated_at', { useTz: true });
    t.timestamp('retired_at', { useTz: true });
    t.timestamp('expires_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX keys_use_status ON keys (use, status)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('keys');
  await knex.schema.dropTable('resource_servers');
  await knex.schema.dropTable('clients');
  await knex.schema.dropTable('oidc_payloads');
}
