import net from 'node:net';
import { loadConfig } from '../../lib/config/config.js';
import { createLogger } from '../../lib/log.js';
import type { OutboundTrust } from '../../lib/oidc/client-metadata-documents.js';
import { startServer, type RunningServer } from '../../lib/server.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** Starts a real Latch (real HTTP server, real database) for a test suite. */
export type TestLatch = RunningServer & { issuer: string; db: TestDatabase; env: Record<string, string> };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function latchEnv(db: TestDatabase, port: number, env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LATCH_TEST_LOG_LEVEL ?? 'silent',
    PORT: String(port),
    ISSUER: `http://localhost:${port}`,
    LATCH_SECRET: 'test-secret-that-is-long-enough-0123456789',
    // the shortest device polling interval, so tests that poll twice need not wait long
    LATCH_DEVICE_POLL_INTERVAL: '1',
    ...db.env,
    ...env,
  };
}

/** Settings no environment variable can reach; only tests set them. */
export type TestOnlyOptions = { outboundTrust?: OutboundTrust };

export async function startLatch(env: Record<string, string> = {}, db?: TestDatabase, testOnly: TestOnlyOptions = {}): Promise<TestLatch> {
  const database = db ?? (await createTestDatabase());
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const fullEnv = latchEnv(database, port, env);
  const config = loadConfig(fullEnv);
  config.outboundTrust = testOnly.outboundTrust;
  const running = await startServer(config, createLogger(config.logLevel));
  return { ...running, issuer: config.issuer, db: database, env: fullEnv };
}
