import type { Knex } from 'knex';

/**
 * Second factors: authenticator apps (TOTP), passkeys (WebAuthn), recovery codes, and the
 * short-lived state of a sign-in in progress (WebAuthn challenges, "password verified, second
 * factor pending"). Binary WebAuthn values are stored as base64url text, so the same rows read
 * back identically through pg (Buffer) and PGlite (Uint8Array).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mfa_totp_factors', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    // the base32 secret, sealed with LATCH_SECRET (AES-256-GCM); never stored in clear
    t.text('secret_sealed').notNullable();
    // false until the person proves the app works by entering a valid code
    t.boolean('confirmed').notNullable().defaultTo(false);
    // RFC 6238 time step of the last accepted code: a code of this step or earlier is refused
    t.bigInteger('last_used_step');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('confirmed_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.index(['account_id']);
  });
  // one active authenticator app per account, so "each time step once per account" holds
  await knex.raw('CREATE UNIQUE INDEX mfa_totp_factors_one_confirmed ON mfa_totp_factors (account_id) WHERE confirmed');

  await knex.schema.createTable('webauthn_credentials', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    // base64url credential id as the authenticator reports it
    t.text('credential_id').notNullable().unique();
    // base64url COSE public key
    t.text('public_key').notNullable();
    // signature counter; an assertion must move it forward unless both are 0
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.specificType('transports', 'text[]').notNullable().defaultTo('{}');
    // 'singleDevice' (device-bound) or 'multiDevice' (synced passkey)
    t.text('device_type').notNullable();
    t.boolean('backup_eligible').notNullable().defaultTo(false);
    t.boolean('backed_up').notNullable().defaultTo(false);
    t.text('aaguid');
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.index(['account_id']);
  });

  await knex.schema.createTable('mfa_recovery_codes', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    // SHA-256 of account id and code; the code itself is shown once and never stored
    t.text('code_hash').notNullable().unique();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id']);
  });

  // WebAuthn challenges: single-use (deleted when spent), expiring, bound to what asked for them
  await knex.schema.createTable('webauthn_challenges', (t) => {
    t.text('id').primary();
    // 'passkey-sign-in' · 'passkey-second-factor' · 'passkey-enrol'
    t.text('purpose').notNullable();
    // the interaction uid (hosted pages) or the browser session (account pages)
    t.text('binding').notNullable();
    t.text('account_id').references('accounts.id').onDelete('CASCADE');
    t.text('challenge').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['binding', 'purpose']);
    t.index(['expires_at']);
  });

  // a sign-in whose password was right and whose second factor (or enrolment) is pending;
  // keyed by the interaction, which oidc-provider binds to the browser by cookie
  await knex.schema.createTable('mfa_pending_sign_ins', (t) => {
    t.text('interaction_uid').primary();
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    // methods already proven (RFC 8176 amr values), e.g. {pwd}
    t.specificType('amr', 'text[]').notNullable();
    // set once a factor was enrolled and proven during this sign-in (enrolment path)
    t.text('enrolled_method');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('mfa_pending_sign_ins');
  await knex.schema.dropTable('webauthn_challenges');
  await knex.schema.dropTable('mfa_recovery_codes');
  await knex.schema.dropTable('webauthn_credentials');
  await knex.schema.dropTable('mfa_totp_factors');
}
