import crypto from 'node:crypto';
import type { Contender } from '../compare.js';
import { BENCH_PASSWORD } from '../seed/optional-tables.js';
import { DEVICE_POLL_INTERVAL_S } from '../scenarios/device-flow.js';
import { latchEnv, refreshOwners, type Fixture, type SeededLatch } from '../seed/fixture.js';
import type { Target } from '../scenarios/types.js';
import { startChild, type ServerChild } from './child.js';
import { freePort } from './ports.js';

/** Starting the servers under test, each in its own process, and describing them as targets. */
export type LatchProcessOptions = {
  name: string;
  databaseUrl: string;
  port: number;
  secret: string;
  logLevel: string;
  nodeFlags?: string[];
  /** another build's servers (--versus), run on a database this checkout migrated */
  serversDir?: string;
  /** default: this process's own URL */
  issuer?: string;
  /** seconds between the prune job's own runs (default: Latch's, LATCH_PRUNE_INTERVAL) */
  pruneIntervalS?: number;
  /** on top of the environment below: a value sets, undefined takes the variable out */
  envOverrides?: Record<string, string | undefined>;
};

/**
 * The allocator settings of the Docker image (see Dockerfile): argon2id's 19 MiB per hash is
 * mapped for the hash and returned to the OS after it, in transparent huge pages where the
 * kernel offers them (madvise mode), so mapping it costs ten page faults rather than 4,864.
 */
export const DEPLOYED_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '131072', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };
/**
 * Node's flags as the Dockerfile's CMD and `npm start` pass them: young-generation semi-spaces
 * of at most 16 MB, Node 20's and 22's default. Node 24's V8 sizes them from the heap limit
 * instead, 64 MB each on a machine with 24 GiB, and Latch then ended scenarios 1–5 at 332 MB.
 */
export const DEPLOYED_NODE_FLAGS = ['--max-semi-space-size=16'];

export const issuerFor = (port: number) => `http://127.0.0.1:${port}`;

export function newSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export function startLatchProcess(options: LatchProcessOptions): Promise<ServerChild> {
  const env: Record<string, string | undefined> = {
    ...latchEnv(options.databaseUrl, options.issuer ?? issuerFor(options.port), options.secret),
    PORT: String(options.port),
    HOST: '127.0.0.1',
    LOG_LEVEL: options.logLevel,
    LATCH_DEVICE_POLL_INTERVAL: String(DEVICE_POLL_INTERVAL_S),
    ...(options.pruneIntervalS ? { LATCH_PRUNE_INTERVAL: String(options.pruneIntervalS) } : {}),
    ...(options.serversDir ? { LATCH_AUTO_MIGRATE: 'false' } : {}),
    ...DEPLOYED_MALLOC_ENV,
    ...options.envOverrides,
  };
  return startChild({
    name: options.name,
    entry: 'latch',
    ...(options.serversDir ? { serversDir: options.serversDir } : {}),
    env: Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    nodeFlags: [...DEPLOYED_NODE_FLAGS, ...(options.nodeFlags ?? [])],
  });
}

/** The ceiling; given a database, the stored ceiling, which keeps oidc-provider's models there (ceiling-postgres.ts). */
export async function startCeiling(seeded: SeededLatch, nodeFlags: string[] = [], storage?: { name: string; databaseUrl: string; poolMax: number }): Promise<ServerChild> {
  const port = await freePort();
  const init = { ...(await seeded.ceilingInput()), issuer: issuerFor(port), port, ...(storage ? { storage: { databaseUrl: storage.databaseUrl, poolMax: storage.poolMax } } : {}) };
  return startChild({ name: storage?.name ?? 'ceiling', entry: 'ceiling', init, nodeFlags });
}

export async function startFloor(seeded: SeededLatch, nodeFlags: string[] = []): Promise<ServerChild> {
  const signingJwk = seeded.keys.jwks.keys.find((k) => k.alg === 'ES256');
  if (!signingJwk) throw new Error('Latch has no ES256 signing key');
  const { issuer, passwordHash } = seeded.fixture;
  return startChild({ name: 'floor', entry: 'floor', init: { issuer, signingJwk, passwordHash: passwordHash ?? '', password: BENCH_PASSWORD }, nodeFlags });
}

const cannotMint = async (): Promise<string[]> => {
  throw new Error('this server keeps no refresh tokens');
};

export function latchContender(label: string, child: ServerChild, seeded: SeededLatch, rounds: number): Contender {
  const target: Target = { role: 'latch', label, url: child.url, fixture: seeded.fixture, mintRefreshTokens: seeded.mintRefreshTokens };
  return { target, child, rounds };
}

export function ceilingContender(child: ServerChild, fixture: Fixture, rounds: number, label = 'ceiling'): Contender {
  const owners = refreshOwners(fixture);
  const target: Target = {
    role: 'ceiling',
    label,
    url: child.url,
    fixture,
    mintRefreshTokens: (count) => child.call<string[]>('mint-refresh-tokens', { owners, count }),
  };
  return { target, child, rounds };
}

export function floorContender(child: ServerChild, fixture: Fixture, rounds: number): Contender {
  return { target: { role: 'floor', label: 'floor', url: child.url, fixture, mintRefreshTokens: cannotMint }, child, rounds };
}
