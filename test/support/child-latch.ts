import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Latch from the entry point `npm start` runs — lib/main.ts, here from its sources through tsx
 * (`npm run dev`), so the tests need no build — in a process of its own, so a test can kill it
 * (SIGKILL, SIGTERM) and read its JSON log lines.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 60_000;

export type LogLine = { level: number; msg?: string; [key: string]: unknown };

export type ChildLatch = {
  url: string;
  pid: number;
  process: ChildProcess;
  /** every JSON log line so far (pino: 50 = error, 60 = fatal) */
  logs: LogLine[];
  errorLines(): LogLine[];
  /** output that was not a JSON log line (stack traces, tsx messages) */
  stray(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** sends the signal and waits for the process to end */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

export async function spawnLatch(env: Record<string, string>): Promise<ChildLatch> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'lib/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stray = '';
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        stray += `${line}\n`;
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stray = (stray + chunk).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));

  const url = `http://localhost:${env.PORT}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`Latch exited before it was ready:\n${stray}\n${JSON.stringify(logs.slice(-5))}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Latch did not become ready in time:\n${stray}`);
    }
    // Latch's own answer, not that of whatever else may have taken the port meanwhile
    const ready = await fetch(`${url}/readyz`).then(
      async (r) => r.ok && ((await r.json().catch(() => ({}))) as { database?: unknown }).database === 'ok',
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    pid: child.pid!,
    process: child,
    logs,
    errorLines: () => logs.filter((l) => l.level >= 50),
    stray: () => stray,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!gone) child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const result = await exited;
      clearTimeout(killer);
      return result;
    },
  };
}
