import type { Knex } from 'knex';

/**
 * The audit log: who did what, when, from where, and how it went. Rows are only ever appended
 * (and, if a retention period is ever configured, deleted by age). The id orders events for
 * paging and export; the indexes serve the filters of `latch audit list` and the console.
 *
 * Also an index for finding dynamically registered clients that have gone unused
 * (LATCH_DCR_IDLE_DAYS), which the prune job deletes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // dotted names: sign_in.password, mfa.totp_added, client.registered, admin.users.disable …
    t.text('type').notNullable();
    // success · failure · throttled
    t.text('outcome').notNullable();
    // an account id, `api-key:<id>`, 'cli', 'system' or 'anonymous'
    t.text('actor').notNullable();
    // what the event is about: an account, a client, a key … (its id)
    t.text('subject');
    t.text('client_id');
    t.text('ip');
    t.text('user_agent');
    t.jsonb('details').notNullable().defaultTo('{}');
  });
  await knex.raw('CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at)');
  await knex.raw('CREATE INDEX audit_events_type ON audit_events (type, occurred_at)');
  await knex.raw('CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at)');
  await knex.raw(`CREATE INDEX clients_dynamic_last_used ON clients ((coalesce(last_used_at, created_at))) WHERE source = 'dynamic'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS clients_dynamic_last_used');
  await knex.schema.dropTable('audit_events');
}
