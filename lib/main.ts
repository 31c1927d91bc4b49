import { ConfigError, loadConfig } from './config/config.js';
import { DataDirBusyError } from './db/data-dir-lock.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`latch: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

const log = createLogger(config.logLevel);
try {
  const running = await startServer(config, log);
  log.info({ issuer: config.issuer, database: config.database.kind, port: config.port }, `Latch is listening; issuer ${config.issuer}`);
  if (process.stdout.isTTY) console.log(`\n  Latch is running. Issuer: ${config.issuer}\n  Discovery: ${config.issuer}/.well-known/openid-configuration\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    try {
      await running.close({ drain: true });
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
} catch (err) {
  if (err instanceof DataDirBusyError) {
    log.fatal(`${err.message}; is another Latch (or a latch command) using it?`);
  } else {
    log.fatal({ err }, 'could not start');
  }
  process.exit(1);
}
