import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../config/config.js';
import { migrationSource } from '../../migrations/index.js';
import { acquireDataDirLock } from './data-dir-lock.js';
import { PgLiteClient } from './pglite-client.js';
import { PreparingPgClient } from './prepared-statements.js';

// Return bigint counts as numbers and timestamps as Date (pg's defaults are strings for int8).
pg.types.setTypeParser(20, (value: string) => Number(value));

export type Database = {
  knex: Knex;
  kind: 'embedded' | 'postgres';
  close(): Promise<void>;
};

export function embeddedDataPath(dataDir: string): string {
  return path.join(dataDir, 'pgdata');
}

export async function openDatabase(database: Config['database']): Promise<Database> {
  if (database.kind === 'postgres') {
    const knex = knexFactory({
      // statements prepared once per connection, unless a pooler in front cannot keep them
      client: database.preparedStatements ? (PreparingPgClient as unknown as typeof Knex.Client) : 'pg',
      connection: { connectionString: database.url, application_name: 'latch' },
      pool: { min: 0, max: database.poolMax, acquireTimeoutMillis: 10_000 },
      acquireConnectionTimeout: 10_000,
    });
    return { knex, kind: 'postgres', close: () => knex.destroy() };
  }
  const release = acquireDataDirLock(database.dataDir);
  try {
    const knex = knexFactory({
      client: PgLiteClient as unknown as typeof Knex.Client,
      dialect: 'postgres',
      connection: { filename: embeddedDataPath(database.dataDir) } as Knex.StaticConnectionConfig,
    });
    await knex.raw('select 1');
    return {
      knex,
      kind: 'embedded',
      async close() {
        try {
          await knex.destroy();
        } finally {
          release();
        }
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Applies pending migrations under Knex's migration lock, so instances starting together are
 * safe. Knex does not wait for that lock — a second instance gets MigrationLocked — and on an
 * empty database instances also race to create Knex's own tables (duplicate type or table).
 * Either way the instance waits briefly and tries again, for up to a minute.
 */
// unique violation on pg_type, duplicate table, duplicate type (object)
const CREATE_RACE = new Set(['23505', '42P07', '42710']);
const MIGRATION_WAIT_MS = 60_000;

function isMigrationRace(err: unknown): boolean {
  const e = err as { code?: string; name?: string };
  return e?.name === 'MigrationLocked' || (!!e?.code && CREATE_RACE.has(e.code));
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  if (knex.client instanceof PgLiteClient) return migrateWithRetry(knex);
  // On PostgreSQL, instances take turns: a session-level advisory lock held on a connection
  // of its own (Knex migrates on the others) makes each wait for the one before it.
  const connection = await knex.client.acquireConnection();
  try {
    await takeMigrationTurn(connection);
    try {
      return await migrateWithRetry(knex);
    } finally {
      await connection.query('SELECT pg_advisory_unlock(4849714)');
    }
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

/**
 * Waits for the migration lock by asking for it again and again rather than blocking in
 * pg_advisory_lock: a statement blocked on a lock holds a snapshot for as long as it waits, and
 * CREATE INDEX CONCURRENTLY (migration 0009) waits for every older snapshot in the database to
 * end. The instance migrating would wait for the instances waiting for it, for ever.
 */
const MIGRATION_TURN_POLL_MS = 200;
async function takeMigrationTurn(connection: { query(sql: string): Promise<{ rows: Array<{ locked: boolean }> }> }) {
  for (;;) {
    const { rows } = await connection.query('SELECT pg_try_advisory_lock(4849714) AS locked');
    if (rows[0]?.locked) return;
    await new Promise((resolve) => setTimeout(resolve, MIGRATION_TURN_POLL_MS));
  }
}

async function migrateWithRetry(knex: Knex): Promise<string[]> {
  const deadline = Date.now() + MIGRATION_WAIT_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
      return applied;
    } catch (err) {
      if (!isMigrationRace(err) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 1000)));
    }
  }
}

export async function migrateDown(knex: Knex): Promise<string[]> {
  const [, reverted] = (await knex.migrate.down({ migrationSource })) as [number, string[]];
  return reverted;
}

export async function migrationStatus(knex: Knex): Promise<{ applied: string[]; pending: string[] }> {
  const [completed, pending] = (await knex.migrate.list({ migrationSource })) as [
    Array<{ name: string } | string>,
    Array<{ file: string } | string>,
  ];
  return {
    applied: completed.map((m) => (typeof m === 'string' ? m : m.name)),
    pending: pending.map((m) => (typeof m === 'string' ? m : m.file)),
  };
}
