import crypto from 'node:crypto';
import knexFactory from 'knex';

/**
 * Databases the bench creates for itself on a PostgreSQL server (DATABASE_URL's, or the
 * local one) and drops when it ends, so a run never touches anyone's data.
 */
export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export type BenchDatabase = { name: string; url: string; drop(): Promise<void> };

function adminKnex(serverUrl: string) {
  return knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
}

export async function createBenchDatabase(serverUrl: string, purpose: string): Promise<BenchDatabase> {
  const name = `latch_bench_${purpose}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = adminKnex(serverUrl);
  try {
    await admin.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.destroy();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      const k = adminKnex(serverUrl);
      try {
        await k.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await k.destroy();
      }
    },
  };
}

/** Removes the server URL's credentials for printing. */
export function describeServer(serverUrl: string): string {
  const url = new URL(serverUrl);
  return `${url.hostname}:${url.port || 5432}`;
}
