import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import type { BenchReport } from './model.js';

/** Where and on what a run happened. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function commitInfo(): BenchReport['commit'] {
  return { sha: git(['rev-parse', 'HEAD']) || 'unknown', dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '' };
}

export async function machineInfo(knex: Knex): Promise<BenchReport['machine']> {
  const pg = await knex.raw('SHOW server_version');
  const providerPackage = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/oidc-provider/package.json'), 'utf8')) as { version: string };
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    node: process.versions.node,
    postgres: `PostgreSQL ${String(pg.rows[0].server_version).split(' ')[0]}`,
    oidcProvider: providerPackage.version,
  };
}
