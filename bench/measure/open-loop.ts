import http from 'node:http';
import type { RequestSource } from '../scenarios/types.js';
import { emptySample, recordResponse, type LoadSample } from './sample.js';

/**
 * Fixed-rate load, open loop: request i is due at start + i/rate whatever happened before,
 * and its latency counts from when it was due, so queueing shows (no coordinated omission).
 * autocannon's overallRate sends each second's quota in a burst at the top of the second,
 * which measures the latency of a saturated server, not of one at 70 % load.
 */
const TICK_MS = 2;
const MAX_SOCKETS = 32;

export async function runOpenLoop(url: string, source: RequestSource, options: { rate: number; durationS: number }): Promise<LoadSample> {
  const sample = emptySample();
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const total = Math.max(1, Math.round(options.rate * options.durationS));
  const intervalMs = 1000 / options.rate;
  const start = performance.now();
  let sent = 0;
  let inFlight = 0;

  const fire = (dueAt: number) => {
    const spec = source.next();
    let timedOut = false;
    inFlight += 1;
    const req = http.request(
      { agent, host: target.hostname, port: target.port, method: spec.method, path: spec.path, headers: { ...spec.headers, ...(spec.body ? { 'content-length': Buffer.byteLength(spec.body) } : {}) }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          inFlight -= 1;
          recordResponse(sample, res.statusCode ?? 0, performance.now() - dueAt);
          source.onResponse?.(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), spec.tag);
        });
      },
    );
    req.on('timeout', () => {
      timedOut = true;
      sample.timeouts += 1;
      req.destroy();
    });
    req.on('error', () => {
      inFlight -= 1;
      if (!timedOut) sample.errors += 1;
      source.onResponse?.(0, '', spec.tag);
    });
    req.end(spec.body);
  };

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        fire(start + sent * intervalMs);
        sent += 1;
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const drainDeadline = performance.now() + 10_000;
  while (inFlight > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 5));
  sample.durationS = (performance.now() - start) / 1000;
  agent.destroy();
  return sample;
}
