import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSince, machineBusySeconds, ownCpuSeconds, snapshotCpu } from './proc.js';

/**
 * How busy the rest of the machine is (in cores): all CPU used minus this process, the
 * bench's servers and the bench's PostgreSQL processes. With `maxWaitS` > 0, waits (up to
 * that long) for it to drop below `thresholdCores` before a window starts.
 */
const SAMPLE_MS = 1_000;

export async function otherLoadCores(benchPids: () => Promise<number[]>): Promise<number> {
  const pids = await benchPids();
  const before = snapshotCpu(pids);
  const machineBefore = machineBusySeconds();
  const ownBefore = ownCpuSeconds();
  await sleep(SAMPLE_MS);
  const used = machineBusySeconds() - machineBefore - cpuSince(before, pids) - (ownCpuSeconds() - ownBefore);
  return Math.max(0, used / (SAMPLE_MS / 1000));
}

export async function waitForQuiet(benchPids: () => Promise<number[]>, maxWaitS: number, thresholdCores: number): Promise<{ waitedS: number; otherCores: number }> {
  const start = performance.now();
  let otherCores = await otherLoadCores(benchPids);
  while (otherCores > thresholdCores && (performance.now() - start) / 1000 < maxWaitS) otherCores = await otherLoadCores(benchPids);
  return { waitedS: (performance.now() - start) / 1000, otherCores };
}
