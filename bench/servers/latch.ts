import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../lib/config/config.js';
import { startServer } from '../../lib/server.js';
import { announceReady, serveIpc } from './ipc.js';

/**
 * Latch exactly as `npm start` runs it (startServer(loadConfig(env))), in a process of its
 * own so its CPU time and memory can be measured. On request it runs the container's prune
 * job back to back, as a deployment with a backlog of expired rows would.
 */
const running = await startServer(loadConfig(process.env));

const PRUNE_PAUSE_MS = 1_000;
let pruning: { stop: boolean; deleted: number; done: Promise<void> } | undefined;

function startPruning() {
  const state = { stop: false, deleted: 0, done: Promise.resolve() };
  state.done = (async () => {
    while (!state.stop) {
      state.deleted += await running.container.prune.runOnce();
      await sleep(PRUNE_PAUSE_MS);
    }
  })();
  return state;
}

serveIpc(
  {
    async 'prune-start'() {
      pruning ??= startPruning();
      return null;
    },
    async 'prune-stop'() {
      if (!pruning) return { deleted: 0 };
      const current = pruning;
      pruning = undefined;
      current.stop = true;
      await current.done;
      return { deleted: current.deleted };
    },
  },
  async () => {
    if (pruning) pruning.stop = true;
    await pruning?.done;
    await running.close();
  },
);

announceReady(running.url.replace('localhost', '127.0.0.1'));
