import { loadConfig } from '../../lib/config/config.js';
import { startServer } from '../../lib/server.js';
import { createWriteCounter, writeKind } from '../measure/write-log.js';
import { announceReady, serveIpc } from './ipc.js';

/**
 * Latch exactly as `npm start` runs it (startServer(loadConfig(env))), in a process of its
 * own so its CPU time and memory can be measured. On request it starts one run of the
 * container's prune job (what each LATCH_PRUNE_INTERVAL tick does: up to 200 batches of
 * 500), so a run is sure to overlap a measured window; and it counts the database writes
 * between `writes-start` and `writes-stop` from knex's query events.
 */
const running = await startServer(loadConfig(process.env));

let pruneRun: Promise<number> | undefined;
const writes = createWriteCounter();
running.container.knex.on('query', (query: { sql: string; bindings?: unknown[]; queryContext?: { rows?: string[] } }) => {
  if (writes.active) writes.record(writeKind(query.sql, query.bindings, query.queryContext?.rows));
});

serveIpc(
  {
    async 'prune-start'() {
      pruneRun ??= running.container.prune.runOnce();
      return null;
    },
    async 'prune-finish'() {
      const deleted = (await pruneRun) ?? 0;
      pruneRun = undefined;
      return { deleted };
    },
    async 'writes-start'() {
      writes.start();
      return null;
    },
    async 'writes-stop'() {
      return writes.stop();
    },
  },
  async () => {
    await pruneRun?.catch(() => undefined);
    await running.close();
  },
);

announceReady(running.url.replace('localhost', '127.0.0.1'));
