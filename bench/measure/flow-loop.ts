import type { FlowRun } from '../scenarios/types.js';
import { emptySample, recordResponse, type LoadSample } from './sample.js';

/**
 * Closed-loop load of whole flows: `concurrency` virtual users, each running one flow after
 * another until the window ends (the flow under way then is finished and counted). A flow's
 * latency is its whole duration; a failed flow counts as an error, and the first failure's
 * message is kept for the report.
 */
export async function runFlowLoop(url: string, flow: FlowRun, options: { concurrency: number; durationS: number }): Promise<LoadSample> {
  const sample = emptySample();
  const counters: Record<string, number> = {};
  const count = (name: string, n = 1) => {
    counters[name] = (counters[name] ?? 0) + n;
  };
  const start = performance.now();
  const deadline = start + options.durationS * 1000;
  const user = async () => {
    while (performance.now() < deadline) {
      const began = performance.now();
      try {
        await flow(url, count);
        recordResponse(sample, 200, performance.now() - began);
      } catch (err) {
        sample.errors += 1;
        sample.firstError ??= (err as Error).message.slice(0, 500);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, user));
  sample.durationS = (performance.now() - start) / 1000;
  sample.counters = counters;
  return sample;
}
