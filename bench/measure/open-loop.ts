import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { RequestSource, RequestSpec } from '../scenarios/types.js';
import { RawConnection, serializeRequest } from './raw-connection.js';
import { emptySample, recordResponse, type LoadSample } from './sample.js';

/**
 * Fixed-rate load, open loop: request i is due at start + i/rate whatever happened before,
 * and its latency counts from when it was due, so queueing shows (no coordinated omission).
 * autocannon's overallRate sends each second's quota in a burst at the top of the second,
 * which measures the latency of a saturated server, not of one at 70 % load. Requests wait
 * for a free connection of a fixed pool, as behind a client's connection pool. The generator
 * notes how long its own event loop was held up: a request it sends late counts against the
 * server, so that figure says whether a p99 is the server's at all.
 */
const TICK_MS = 2;
const CONNECTIONS = 32;
const TIMEOUT_MS = 10_000;

type Due = { dueAt: number; spec: RequestSpec };

export async function runOpenLoop(url: string, source: RequestSource, options: { rate: number; durationS: number }): Promise<LoadSample> {
  const sample = emptySample();
  const target = new URL(url);
  const host = target.host;
  const connections = Array.from({ length: CONNECTIONS }, () => new RawConnection(Number(target.port), target.hostname, TIMEOUT_MS));
  const queue: Due[] = [];
  const total = Math.max(1, Math.round(options.rate * options.durationS));
  const intervalMs = 1000 / options.rate;
  let sent = 0;
  let answered = 0;
  const ownDelay = monitorEventLoopDelay({ resolution: 1 });
  ownDelay.enable();

  const dispatch = () => {
    for (const connection of connections) {
      if (!queue.length) return;
      if (!connection.idle) continue;
      const { dueAt, spec } = queue.shift()!;
      connection.send(serializeRequest(spec, host), (outcome) => {
        answered += 1;
        if ('response' in outcome) {
          // answered, but later than a client would have waited
          if (performance.now() - dueAt > TIMEOUT_MS) sample.timeouts += 1;
          else recordResponse(sample, outcome.response.status, performance.now() - dueAt);
        } else if (outcome.failure === 'timeout') sample.timeouts += 1;
        else sample.errors += 1;
        source.onResponse?.('response' in outcome ? outcome.response.status : 0, 'response' in outcome ? outcome.response.body : '', spec.tag);
        setImmediate(dispatch);
      });
    }
  };

  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        queue.push({ dueAt: start + sent * intervalMs, spec: source.next() });
        sent += 1;
      }
      dispatch();
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const drainDeadline = performance.now() + TIMEOUT_MS;
  while (answered < total && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 5));
  sample.durationS = (performance.now() - start) / 1000;
  ownDelay.disable();
  sample.generatorDelayMaxMs = Math.round(ownDelay.max / 1e5) / 10;
  // requests still waiting for a connection were never served in time
  sample.timeouts += queue.length;
  for (const { spec } of queue.splice(0)) source.onResponse?.(0, '', spec.tag);
  for (const connection of connections) connection.close();
  return sample;
}
