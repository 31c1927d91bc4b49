import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** CPU time and memory of processes on this machine, read from /proc (Linux). */
const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in seconds, or undefined once it has gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name may contain spaces and parentheses; fields resume after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size (VmHWM) in MiB. */
export const peakRssMb = (pid: number) => statusField(pid, 'VmHWM');

/** Current resident set size (VmRSS) in MiB. */
export const rssMb = (pid: number) => statusField(pid, 'VmRSS');

/** Every PostgreSQL server process on this machine (postmaster, backends, WAL writer…). */
export function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/**
 * CPU seconds spent by all PostgreSQL processes between two snapshots. Backends that start
 * during the window count from zero; ones that end during it are lost (short-lived only).
 */
export type CpuSnapshot = Map<number, number>;

export function snapshotPostgresCpu(): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  for (const pid of postgresPids()) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) snapshot.set(pid, seconds);
  }
  return snapshot;
}

export function postgresCpuSince(before: CpuSnapshot): number {
  let total = 0;
  for (const [pid, seconds] of snapshotPostgresCpu()) total += seconds - (before.get(pid) ?? 0);
  return total;
}
