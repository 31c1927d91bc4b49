import type { Knex } from 'knex';

/**
 * oidc_payloads keyed by (id, model), not (model, id). A token presented without a type
 * (introspection or revocation without `token_type_hint`) is looked up as every model it could
 * be in one statement, `model IN (…) AND id = …`. With the model first, PostgreSQL descended the
 * key once per model, three times. With the id first it descends once and checks the model on
 * the entry it finds. Measured on PostgreSQL 15 with the bench's rows, in buffers touched per
 * look-up: 10 against 4 beside 100,000 live tokens; 12 against 4–5 beside a million expired
 * ones, where the table (403 MB) and its key (116 MB) no longer fit the default 128 MB of
 * shared buffers. See the README's "Round 13".
 *
 * The only reader of one model's rows without an id, the listing of initial access tokens,
 * gets a partial index of its own, so it does not scan the table.
 *
 * Instances already running keep serving while a newer one migrates (several instances on one
 * database): the new key is built with CREATE INDEX CONCURRENTLY, which blocks no reader or
 * writer, and then swapped in for the old one, a change of the catalog that holds the table's
 * lock for an instant rather than for a rebuild. CONCURRENTLY cannot run in a transaction, so
 * this migration runs outside one. Each step can run again: an index a crash left half-built
 * (PostgreSQL keeps it, marked invalid) is dropped and built again.
 */
export const config = { transaction: false };

async function rekey(knex: Knex, columns: string) {
  await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS oidc_payloads_new_key');
  await knex.raw(`CREATE UNIQUE INDEX CONCURRENTLY oidc_payloads_new_key ON oidc_payloads (${columns})`);
  await knex.raw('ALTER TABLE oidc_payloads DROP CONSTRAINT oidc_payloads_pkey, ADD CONSTRAINT oidc_payloads_pkey PRIMARY KEY USING INDEX oidc_payloads_new_key');
}

export async function up(knex: Knex): Promise<void> {
  await rekey(knex, 'id, model');
  await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS oidc_payloads_initial_access_tokens');
  await knex.raw(`CREATE INDEX CONCURRENTLY oidc_payloads_initial_access_tokens ON oidc_payloads (id) WHERE model = 'InitialAccessToken'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS oidc_payloads_initial_access_tokens');
  await rekey(knex, 'model, id');
}
