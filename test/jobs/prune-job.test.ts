import { expect } from 'chai';
import { createLogger } from '../../lib/log.js';
import { createPruneJob, PRUNE_BATCH_SIZE, PRUNE_BATCH_SPACING_MS, type PruneTask } from '../../lib/jobs/prune.js';

/**
 * How the prune job paces itself: after each full batch it rests as long as the batch took, so
 * it holds the database (and, embedded, the event loop) at most half the time, and full
 * batches start at least PRUNE_BATCH_SPACING_MS apart however quick they are; and stopping
 * ends a run after the batch in progress. What the batches delete, and that they lock nothing
 * against other writers, is proven on the real database in
 * test/security/g-44-pruning-without-locks.test.ts.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A kind of expired row with `fullBatches` full batches then a short one, each taking `batchMs`. */
function timedTask(fullBatches: number, batchMs: number) {
  const batches: Array<{ start: number; end: number }> = [];
  const task: PruneTask = {
    name: 'test rows',
    async deleteBatch(limit) {
      const start = performance.now();
      await sleep(batchMs);
      batches.push({ start, end: performance.now() });
      return batches.length <= fullBatches ? limit : 7;
    },
  };
  return { task, batches };
}

describe('prune job pacing', () => {
  const log = createLogger('silent');

  it('rests after each full batch at least as long as that batch took, and not after the short last one', async () => {
    const { task, batches } = timedTask(4, 20);
    const job = createPruneJob({ tasks: [task], log, intervalSeconds: 3600 });
    const deleted = await job.runOnce();
    const runEnded = performance.now();

    expect(deleted).to.equal(4 * PRUNE_BATCH_SIZE + 7);
    expect(batches).to.have.length(5);
    for (let i = 0; i + 1 < batches.length; i += 1) {
      const took = batches[i]!.end - batches[i]!.start;
      const rested = batches[i + 1]!.start - batches[i]!.end;
      // timers round to whole milliseconds
      expect(rested, `rest after batch ${i + 1} (${took.toFixed(1)} ms)`).to.be.at.least(took - 1);
    }
    // the short batch ends the run without a rest
    expect(runEnded - batches.at(-1)!.end).to.be.below(15);
  });

  it(`starts quick full batches at least ${PRUNE_BATCH_SPACING_MS} ms apart, so a run deletes at most ${(PRUNE_BATCH_SIZE * 1000) / PRUNE_BATCH_SPACING_MS} rows a second`, async () => {
    const { task, batches } = timedTask(4, 1);
    const job = createPruneJob({ tasks: [task], log, intervalSeconds: 3600 });
    expect(await job.runOnce()).to.equal(4 * PRUNE_BATCH_SIZE + 7);
    expect(batches).to.have.length(5);
    for (let i = 0; i + 1 < batches.length; i += 1) {
      const spacing = batches[i + 1]!.start - batches[i]!.start;
      // timers round to whole milliseconds
      expect(spacing, `from batch ${i + 1} to ${i + 2}`).to.be.at.least(PRUNE_BATCH_SPACING_MS - 1);
    }
  });

  it('stop ends a run in progress after its current batch', async () => {
    const { task, batches } = timedTask(1_000, 10);
    const job = createPruneJob({ tasks: [task], log, intervalSeconds: 0.01 });
    job.start();
    while (batches.length < 2) await sleep(5);
    const stopAsked = performance.now();
    await job.stop();
    const countAtStop = batches.length;

    // without it, stop would wait for the run's 200 batches (and their rests): about 4 s
    expect(performance.now() - stopAsked).to.be.below(500);
    expect(countAtStop).to.be.below(10);
    await sleep(60);
    expect(batches.length, 'no batch after stop').to.equal(countAtStop);
  });

  it('starts again after a stop', async () => {
    const { task, batches } = timedTask(0, 1);
    const job = createPruneJob({ tasks: [task], log, intervalSeconds: 0.01 });
    job.start();
    await job.stop();
    job.start();
    while (batches.length < 1) await sleep(5);
    await job.stop();
    expect(batches.length).to.be.at.least(1);
  });
});
