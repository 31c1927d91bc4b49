import type { Knex } from 'knex';

/** Organizations, who belongs to them with which role, invitations, and the active one. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('organizations', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    // every account gets one personal organization on first sign-in
    t.boolean('personal').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('memberships', (t) => {
    t.text('org_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    t.text('role').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['org_id', 'account_id']);
    t.index(['account_id']);
  });
  await knex.raw("ALTER TABLE memberships ADD CONSTRAINT memberships_role CHECK (role IN ('owner', 'admin', 'member'))");

  await knex.schema.createTable('invitations', (t) => {
    t.text('id').primary();
    t.text('org_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('email').notNullable();
    t.text('email_normalized').notNullable();
    t.text('role').notNullable();
    t.text('token_hash').notNullable().unique();
    t.text('invited_by').references('accounts.id').onDelete('SET NULL');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('accepted_at', { useTz: true });
    t.text('accepted_by').references('accounts.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['org_id']);
  });

  await knex.schema.alterTable('accounts', (t) => {
    t.text('active_org_id').references('organizations.id').onDelete('SET NULL');
  });
  // the organization an app acts for, chosen on the consent page and remembered with it
  await knex.schema.alterTable('consents', (t) => {
    t.text('org_id').references('organizations.id').onDelete('SET NULL');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('consents', (t) => t.dropColumn('org_id'));
  await knex.schema.alterTable('accounts', (t) => t.dropColumn('active_org_id'));
  await knex.schema.dropTable('invitations');
  await knex.schema.dropTable('memberships');
  await knex.schema.dropTable('organizations');
}
