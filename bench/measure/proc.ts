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

/** utime + stime of a process (all its threads) in seconds, or undefined once it has gone. */
export function cpuSeconds(pid: number): number | undefined {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * utime + stime of a process's main thread alone (whose thread id is the process id): in
 * Node, the event loop and JavaScript, without V8's concurrent GC and compiler threads or
 * libuv's pool.
 */
export function mainThreadCpuSeconds(pid: number): number | undefined {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(file: string): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(file, 'utf8');
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

/**
 * CPU seconds of a set of processes between two snapshots (PostgreSQL backends, say).
 * Processes that start during the window count from zero; ones that end during it are lost.
 */
export type CpuSnapshot = Map<number, number>;

export function snapshotCpu(pids: number[]): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  for (const pid of pids) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) snapshot.set(pid, seconds);
  }
  return snapshot;
}

export function cpuSince(before: CpuSnapshot, pids: number[]): number {
  let total = 0;
  for (const [pid, seconds] of snapshotCpu(pids)) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** CPU seconds all processes on the machine have used (the busy part of /proc/stat). */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds of this process (the load generator). */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
