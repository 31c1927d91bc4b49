import type { Logger } from '../log.js';
import type { OidcPayloadQueries } from '../oidc/oidc-payloads.queries.js';
import { createIntervalJob } from './interval-job.js';

/**
 * Deletes expired oidc-provider rows in small batches, each its own short statement with
 * SKIP LOCKED, so the tables are never locked for long and instances never wait on each other.
 */
const BATCH_SIZE = 500;
const MAX_BATCHES_PER_RUN = 200;

export type PruneJob = ReturnType<typeof createPruneJob>;

export function createPruneJob(deps: { payloads: OidcPayloadQueries; log: Logger; intervalSeconds: number; extraTasks?: Array<() => Promise<unknown>> }) {
  async function runOnce(onProgress?: (deleted: number) => void): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_RUN; i += 1) {
      const deleted = await deps.payloads.deleteExpiredBatch(BATCH_SIZE);
      total += deleted;
      onProgress?.(total);
      if (deleted < BATCH_SIZE) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // expired throttling counters and e-mail tokens: small tables, one statement each
    for (const task of deps.extraTasks ?? []) await task();
    return total;
  }

  const job = createIntervalJob(() => runOnce(), {
    intervalMs: deps.intervalSeconds * 1000,
    onResult: (n) => {
      if (n) deps.log.info({ deleted: n }, 'pruned expired rows');
    },
    onError: (err) => deps.log.warn({ err }, 'prune run failed; will retry'),
  });

  return { runOnce, ...job };
}
