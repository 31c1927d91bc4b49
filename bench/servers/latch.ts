import { loadConfig } from '../../lib/config/config.js';
import { startServer } from '../../lib/server.js';
import { createWriteCounter, writeKind } from '../measure/write-log.js';
import { announceReady, serveIpc } from './ipc.js';

/**
 * Latch exactly as `npm start` runs it (startServer(loadConfig(env))), in a process of its
 * own so its CPU time and memory can be measured. On request it runs the container's prune
 * job (what each LATCH_PRUNE_INTERVAL tick does: up to 200 batches of 500 per kind) run after
 * run until told to stop, so the job is working for the whole of a measured window; and it
 * counts the database writes between `writes-start` and `writes-stop` from knex's query events.
 */
const running = await startServer(loadConfig(process.env));

type PruneResult = { deleted: number; runs: number; ms: number };
let pruning: Promise<PruneResult> | undefined;
let pruneStop = false;
/** runs of the prune job back to back until told to stop or until one finds nothing */
async function pruneUntilStopped(): Promise<PruneResult> {
  pruneStop = false;
  const started = performance.now();
  const result: PruneResult = { deleted: 0, runs: 0, ms: 0 };
  while (!pruneStop) {
    const deleted = await running.container.prune.runOnce();
    result.deleted += deleted;
    result.runs += 1;
    if (deleted === 0) break;
  }
  result.ms = Math.round(performance.now() - started);
  return result;
}
/** ends the runs: the one in progress after its current batch (the job's own stop), then sets the job's schedule going again */
async function stopPruning(): Promise<PruneResult> {
  pruneStop = true;
  await running.container.prune.stop();
  const result = (await pruning) ?? { deleted: 0, runs: 0, ms: 0 };
  pruning = undefined;
  running.container.prune.start();
  return result;
}
const writes = createWriteCounter();
running.container.knex.on('query', (query: { sql: string; bindings?: unknown[]; queryContext?: { rows?: string[] } }) => {
  if (writes.active) writes.record(writeKind(query.sql, query.bindings, query.queryContext?.rows));
});

serveIpc(
  {
    async 'prune-start'() {
      pruning ??= pruneUntilStopped();
      return null;
    },
    async 'prune-finish'() {
      return stopPruning();
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
    // a paced run takes 20 s or more, longer than the parent waits for a stop before killing
    await stopPruning().catch(() => undefined);
    await running.close();
  },
);

announceReady(running.url.replace('localhost', '127.0.0.1'));
