import { expect } from 'chai';
import { createIntervalJob } from '../../lib/jobs/interval-job.js';

/**
 * The timer behind the prune, vacuum and key-refresh jobs: one run at a time, errors handed
 * on, and each result reported with how long its run took (the jobs log it).
 */
describe('interval jobs', () => {
  it('reports each result with the duration of its run, and never runs two at once', async () => {
    let active = 0;
    let mostAtOnce = 0;
    const results: Array<{ result: string; ms: number }> = [];
    const job = createIntervalJob(
      async () => {
        active += 1;
        mostAtOnce = Math.max(mostAtOnce, active);
        await new Promise((resolve) => setTimeout(resolve, 60));
        active -= 1;
        return 'done';
      },
      { intervalMs: 10, onError: (err) => expect.fail(String(err)), onResult: (result, ms) => results.push({ result, ms }) },
    );
    job.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await job.stop();
    expect(results.length).to.be.at.least(1);
    for (const r of results) {
      expect(r.result).to.equal('done');
      expect(r.ms).to.be.at.least(55).and.below(1000);
    }
    expect(mostAtOnce).to.equal(1);
  });

  it('refuses an interval a Node timer cannot hold, which would otherwise fire every millisecond', () => {
    const run = async () => 'never';
    for (const intervalMs of [0, -5, Number.NaN, 30 * 86_400_000]) {
      expect(() => createIntervalJob(run, { intervalMs, onError: () => undefined }), String(intervalMs)).to.throw(RangeError, 'interval job');
    }
    expect(() => createIntervalJob(run, { intervalMs: 86_400_000, onError: () => undefined })).not.to.throw();
  });

  it('hands a failed run to onError and runs again on a later tick', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    const job = createIntervalJob(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('database briefly away');
        return calls;
      },
      { intervalMs: 10, onError: (err) => errors.push(err) },
    );
    job.start();
    await new Promise((resolve) => setTimeout(resolve, 80));
    await job.stop();
    expect(errors).to.have.length(1);
    expect(calls).to.be.at.least(2);
  });
});
