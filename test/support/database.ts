import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { migrateLatest, openDatabase } from '../../lib/db/database.js';

/**
 * Each test suite gets a database of its own: with DATABASE_URL, a fresh PostgreSQL database
 * created on that server and dropped afterwards; without it, a fresh embedded data directory
 * (copied from one migrated template, since PGlite's initdb takes seconds).
 */
export type TestDatabase = { env: Record<string, string>; drop(): Promise<void> };

const created: TestDatabase[] = [];
let templateDir: string | undefined;

export const usingPostgres = (): boolean => !!process.env.DATABASE_URL;

function adminUrl(): URL {
  return new URL(process.env.DATABASE_URL!);
}

async function embeddedTemplate(): Promise<string> {
  if (templateDir) return templateDir;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-template-'));
  const db = await openDatabase({ kind: 'embedded', dataDir: dir });
  await migrateLatest(db.knex);
  await db.close();
  templateDir = dir;
  return dir;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  let testDb: TestDatabase;
  if (usingPostgres()) {
    const name = `latch_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    const admin = knexFactory({ client: 'pg', connection: adminUrl().toString(), pool: { min: 0, max: 1 } });
    await admin.raw(`CREATE DATABASE ${name}`);
    await admin.destroy();
    const url = adminUrl();
    url.pathname = `/${name}`;
    testDb = {
      env: { DATABASE_URL: url.toString() },
      async drop() {
        const k = knexFactory({ client: 'pg', connection: adminUrl().toString(), pool: { min: 0, max: 1 } });
        try {
          await k.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await k.destroy();
        }
      },
    };
  } else {
    const template = await embeddedTemplate();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-test-'));
    fs.cpSync(template, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'latch.lock'), { force: true });
    testDb = {
      env: { LATCH_DATA_DIR: dir },
      async drop() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  created.push(testDb);
  return testDb;
}

export async function cleanupTestDatabases() {
  for (const db of created.splice(0)) await db.drop().catch(() => undefined);
  if (templateDir) fs.rmSync(templateDir, { recursive: true, force: true });
  templateDir = undefined;
}
