import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, mainThreadCpuSeconds, peakRssMb, rssMb } from '../measure/proc.js';

/** The parent side of a server running in a child process of its own, measured from /proc. */
export type ServerChild = {
  name: string;
  pid: number;
  url: string;
  call<T = unknown>(type: string, args?: Record<string, unknown>): Promise<T>;
  cpuSeconds(): number;
  /** the main thread's alone: the event loop and JavaScript */
  mainThreadCpuSeconds(): number;
  peakRssMb(): number;
  rssMb(): number;
  stop(): Promise<void>;
};

const serversDir = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(serversDir, '../..');

/**
 * The servers run compiled, as `npm start` and the Docker image run Latch: plain JavaScript
 * from tsc, no tsx loader (whose loader thread and transpiled sources cost a server about
 * 65 MB of RSS). Compiled once per bench process into a directory of its own, so benches
 * running side by side (the test suites on two databases) never write over each other's files.
 */
let compiledServersDir: string | undefined;
function compiledServers(): string {
  if (compiledServersDir) return compiledServersDir;
  const outDir = path.join(projectRoot, 'dist', 'bench', `run-${process.pid}`);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  process.once('exit', () => fs.rmSync(outDir, { recursive: true, force: true }));
  execFileSync(process.execPath, [tsc, '-p', path.join(projectRoot, 'tsconfig.bench.json'), '--outDir', outDir], { cwd: projectRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  compiledServersDir = path.join(outDir, 'bench', 'servers');
  return compiledServersDir;
}
const running = new Set<number>();

/** Every server process the bench has running. */
export const serverPids = (): number[] => [...running];
const STDERR_TAIL_CHARS = 8_000;
const START_TIMEOUT_MS = 60_000;

export type ChildOptions = {
  name: string;
  entry: 'latch' | 'ceiling' | 'floor';
  /** where the compiled servers are (default: this checkout's, compiled on first use) */
  serversDir?: string;
  env?: Record<string, string>;
  /** extra node flags, e.g. --cpu-prof */
  nodeFlags?: string[];
  /** sent as the child's first message, before it announces it is ready */
  init?: Record<string, unknown>;
};

export async function startChild(options: ChildOptions): Promise<ServerChild> {
  const child: ChildProcess = fork(path.join(options.serversDir ?? compiledServers(), `${options.entry}.js`), [], {
    execArgv: ['--no-warnings', ...(options.nodeFlags ?? [])],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });

  let nextId = 1;
  const pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  child.on('message', (raw) => {
    const message = raw as { id?: number; ok?: boolean; result?: unknown; error?: string };
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.ok) waiter?.resolve(message.result);
    else waiter?.reject(new Error(`${options.name}: ${message.error}`));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  exited.then((code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${options.name} exited (${code}); stderr:\n${stderr}`));
    pending.clear();
  });

  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} did not start in time; stderr:\n${stderr}`)), START_TIMEOUT_MS);
    child.on('message', (raw) => {
      const message = raw as { type?: string; url?: string };
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message.url!);
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code}) before it was ready; stderr:\n${stderr}`));
    });
  });
  if (options.init) child.send({ type: 'init', ...options.init });
  const url = await ready;
  const pid = child.pid!;
  running.add(pid);
  exited.then(() => running.delete(pid));

  const call = <T>(type: string, args: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, type, ...args });
    });

  return {
    name: options.name,
    pid,
    url,
    call,
    cpuSeconds: () => cpuSeconds(pid) ?? Number.NaN,
    mainThreadCpuSeconds: () => mainThreadCpuSeconds(pid) ?? Number.NaN,
    peakRssMb: () => peakRssMb(pid) ?? Number.NaN,
    rssMb: () => rssMb(pid) ?? Number.NaN,
    async stop() {
      if (child.exitCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await call('stop').catch(() => undefined);
      await exited;
      clearTimeout(timer);
    },
  };
}
