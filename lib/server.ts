import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
  close(): Promise<void>;
};

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Opens the database, migrates (under Knex's lock), builds the container and listens.
 * Used by `npm start` and by the tests, so both run the same start-up.
 */
export async function startServer(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const db = await openDatabase(config.database);
  try {
    if (config.autoMigrate) {
      const applied = await migrateLatest(db.knex);
      if (applied.length) log.info({ migrations: applied }, 'applied migrations');
    }
    const container = await buildContainer(config, db, log);
    if (!config.secret) log.warn('LATCH_SECRET is not set: private keys are stored unencrypted (refused in production)');
    const app = createApp(container);
    const server = http.createServer(app.callback());
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const adminSocket = db.kind === 'embedded' ? await startAdminSocket({ container, dataDir: config.dataDir }) : undefined;
    container.prune.start();
    container.keyRefresh.start();
    const { port } = server.address() as AddressInfo;

    let closing: Promise<void> | undefined;
    return {
      url: `http://localhost:${port}`,
      container,
      server,
      close() {
        closing ??= (async () => {
          container.prune.stop();
          container.keyRefresh.stop();
          await adminSocket?.close();
          // stop accepting, let in-flight requests finish, then drop idle keep-alive sockets
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          const timer = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
          await closed;
          clearTimeout(timer);
          await container.prune.stop();
          await container.keyRefresh.stop();
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
