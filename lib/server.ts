import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import v8 from 'node:v8';
import { startAdminSocket } from './admin/admin-socket.js';
import { createApp } from './app.js';
import type { Config } from './config/config.js';
import { buildContainer, type Container } from './container.js';
import { migrateLatest, openDatabase } from './db/database.js';
import { createLogger, type Logger } from './log.js';

export type RunningServer = {
  url: string;
  container: Container;
  server: http.Server;
  /** `drain`: the stop for a signal (see LISTEN_DRAIN_MS); without it, as fast as possible */
  close(options?: { drain?: boolean }): Promise<void>;
};

// from the signal, in-flight requests get this long; with closing the database the whole
// stop stays under 10 s
const SHUTDOWN_GRACE_MS = 8_000;
/**
 * On a signal, Latch keeps accepting for a moment while /readyz already answers 503, so a load
 * balancer stops sending and connections queued in the listen backlog (a busy process accepts
 * late) are answered instead of reset when the listener closes. Idle keep-alive connections
 * are swept only later: a request can sit unread on one while the process is starved of CPU.
 */
const LISTEN_DRAIN_MS = 2_000;
const IDLE_SWEEP_AFTER_MS = 5_000;
const SWEEP_INTERVAL_MS = 200;

/**
 * How far V8 lets the old generation grow past what the last full collection kept, in percent.
 * Under load most of what reaches the old generation is requests' garbage (objects alive
 * across two young-generation collections). V8 picks its growth factor from how cheap a full
 * collection is against the allocation rate, and collecting mostly garbage is cheap, so it
 * picks its highest, 4: with about 40 MB live, Latch's heap swung up to 190 MB between
 * collections and its RSS past 250 MB. With 2 the heap's swing is about half, at a full
 * collection every second or so; 1.5 cost refresh rotations 0.85 × the rate (README,
 * Performance).
 */
export const HEAP_GROWING_PERCENT = 100;

/** The V8 flag startServer sets, unless the process was started with its own. */
export function heapGrowthFlag(execArgv: readonly string[]): string | undefined {
  return execArgv.some((flag) => /^--heap[-_]growing[-_]percent\b/.test(flag)) ? undefined : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/**
 * Opens the database, migrates (under Knex's lock), builds the container and listens.
 * Used by `npm start` and by the tests, so both run the same start-up.
 */
export async function startServer(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const heapFlag = heapGrowthFlag(process.execArgv);
  if (heapFlag) v8.setFlagsFromString(heapFlag);
  const db = await openDatabase(config.database);
  try {
    if (config.autoMigrate) {
      const applied = await migrateLatest(db.knex);
      if (applied.length) log.info({ migrations: applied }, 'applied migrations');
    }
    const container = await buildContainer(config, db, log);
    if (!config.secret) log.warn('LATCH_SECRET is not set: private keys are stored unencrypted (refused in production)');
    const app = createApp(container);
    // once stopping, every answer closes its connection (no client sends another request on a
    // socket about to go away) and /readyz says so
    let draining = false;
    const handle = app.callback();
    const server = http.createServer((req, res) => {
      if (draining) {
        res.setHeader('Connection', 'close');
        if (req.url === '/readyz') {
          res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
          res.end(JSON.stringify({ status: 'stopping' }));
          return;
        }
      }
      void handle(req, res);
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const adminSocket = db.kind === 'embedded' ? await startAdminSocket({ container, dataDir: config.dataDir }) : undefined;
    await container.changes.start();
    container.prune.start();
    container.keyRefresh.start();
    container.vacuum?.start();
    const { port } = server.address() as AddressInfo;

    let closing: Promise<void> | undefined;
    return {
      url: `http://localhost:${port}`,
      container,
      server,
      close(options = {}) {
        closing ??= (async () => {
          container.prune.stop();
          container.keyRefresh.stop();
          void container.vacuum?.stop();
          await adminSocket?.close();
          draining = true;
          if (options.drain) await new Promise((resolve) => setTimeout(resolve, LISTEN_DRAIN_MS));
          // stop accepting; in-flight requests finish, then idle connections are swept
          // (http.Server#close would drop the idle ones at once, unread requests and all)
          const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
          let sweeper: NodeJS.Timeout | undefined;
          const firstSweep = setTimeout(
            () => {
              server.closeIdleConnections();
              sweeper = setInterval(() => server.closeIdleConnections(), SWEEP_INTERVAL_MS);
            },
            options.drain ? IDLE_SWEEP_AFTER_MS - LISTEN_DRAIN_MS : 0,
          );
          const timer = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS - (options.drain ? LISTEN_DRAIN_MS : 0));
          await closed;
          clearTimeout(firstSweep);
          clearInterval(sweeper);
          clearTimeout(timer);
          await container.prune.stop();
          await container.keyRefresh.stop();
          await container.vacuum?.stop();
          await container.flushUseMarks().catch(() => undefined);
          await container.changes.close();
          await db.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
