import type { Logger } from '../log.js';
import { createIntervalJob } from './interval-job.js';

/**
 * Deletes expired rows (SECURITY.md G.44): for each kind — oidc-provider's tokens, codes and
 * sessions, throttling counters, e-mail tokens, MFA and upstream leftovers, dead API keys —
 * batch after batch of at most PRUNE_BATCH_SIZE rows until a batch comes back short. Each batch
 * is its own short statement that locks only its rows and skips those others hold
 * (lib/db/delete-batch.ts), so no table is ever locked against readers or writers and
 * instances pruning at the same time never wait on each other.
 *
 * After each full batch the job rests as long as that batch took, so a run holds the database
 * — and, on the embedded database, the event loop its statements run on — at most half the
 * time, and full batches start at least PRUNE_BATCH_SPACING_MS apart, so a run deletes at most
 * 5,000 rows a second. At the default interval a backlog is worked off no slower for that: a
 * run stops after 200 batches of a kind anyway, and those take 20 s at that pace, well inside
 * the 5 minutes between runs. What the pace spares is the requests served meanwhile: unpaced,
 * a run took 2–4 s for 100,000 rows beside the bench's load, and runs back to back took 29 %
 * of the JWT path's rate in one run of bench scenario 9 (README, "Round 10"). Stopping ends a
 * run after the batch in progress.
 */
export const PRUNE_BATCH_SIZE = 500;
/** full batches of a run start at least this far apart (at most 10 a second) */
export const PRUNE_BATCH_SPACING_MS = 100;
/** a run stops after this many batches of one kind; the next run goes on */
const MAX_BATCHES_PER_RUN = 200;
/** the longest rest after one batch, so a batch slowed by contention cannot stall a run for long */
const MAX_REST_MS = 1000;

/** One kind of expired row: deletes a batch of at most `limit` and says how many went. */
export type PruneTask = { name: string; deleteBatch: (limit: number) => Promise<number> };

export type PruneJob = ReturnType<typeof createPruneJob>;

export function createPruneJob(deps: { tasks: PruneTask[]; log: Logger; intervalSeconds: number; extraTasks?: Array<() => Promise<unknown>> }) {
  let stopping = false;

  async function drain(task: PruneTask): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_RUN && !stopping; i += 1) {
      const started = performance.now();
      const deleted = await task.deleteBatch(PRUNE_BATCH_SIZE);
      total += deleted;
      if (deleted < PRUNE_BATCH_SIZE) break;
      const took = performance.now() - started;
      const rest = Math.min(MAX_REST_MS, Math.ceil(Math.max(took, PRUNE_BATCH_SPACING_MS - took)));
      await new Promise((resolve) => setTimeout(resolve, rest));
    }
    return total;
  }

  /** One run over every kind; returns how many rows went. */
  async function runOnce(): Promise<number> {
    let total = 0;
    for (const task of deps.tasks) {
      if (stopping) break;
      total += await drain(task);
    }
    // clean-ups that batch themselves (idle dynamic clients, each audited)
    for (const task of deps.extraTasks ?? []) if (!stopping) await task();
    return total;
  }

  const job = createIntervalJob(() => runOnce(), {
    intervalMs: deps.intervalSeconds * 1000,
    onResult: (n, ms) => {
      if (n) deps.log.info({ deleted: n, ms }, 'pruned expired rows');
    },
    onError: (err) => deps.log.warn({ err }, 'prune run failed; will retry'),
  });

  return {
    runOnce,
    start() {
      stopping = false;
      job.start();
    },
    /** ends a run in progress after its current batch, and waits for that */
    async stop() {
      stopping = true;
      await job.stop();
    },
  };
}
