import { loadConfig } from '../../lib/config/config.js';
import { startServer } from '../../lib/server.js';
import { announceReady, serveIpc } from './ipc.js';

/**
 * Latch exactly as `npm start` runs it (startServer(loadConfig(env))), in a process of its
 * own so its CPU time and memory can be measured. On request it starts one run of the
 * container's prune job (what each LATCH_PRUNE_INTERVAL tick does: up to 200 batches of
 * 500), so a run is sure to overlap a measured window.
 */
const running = await startServer(loadConfig(process.env));

let pruneRun: Promise<number> | undefined;

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
  },
  async () => {
    await pruneRun?.catch(() => undefined);
    await running.close();
  },
);

announceReady(running.url.replace('localhost', '127.0.0.1'));
