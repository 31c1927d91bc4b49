import os from 'node:os';
import knexFactory from 'knex';
import { postgresPidsOf } from '../measure/postgres-pids.js';
import { cpuSeconds, cpuSince, machineBusySeconds, ownCpuSeconds, rssMb, snapshotCpu, type CpuSnapshot } from '../measure/proc.js';
import { parseDuration } from '../../lib/config/durations.js';
import { spawnLatch } from '../../test/support/child-latch.js';
import { cleanupTestDatabases, createTestDatabase } from '../../test/support/database.js';
import { freePort, latchEnv, startLatch } from '../../test/support/latch.js';
import { createWorkload, OP_KINDS, runLoad, seedLoadFixture, type OpKind, type Outcome } from '../../test/support/workload.js';

/**
 * The soak: one Latch (a process of its own, as `npm start` runs it) under a steady mixed load
 * — sign-ins through the hosted pages, refresh rotation, client credentials, introspection,
 * device polling — for a set time. It reports errors, p99 drift between the first measured
 * minute and the last, and RSS growth after warm-up, against the targets: zero 5xx, drift
 * under 20 %, growth under 10 %. A leak shows as steady RSS growth.
 *
 * Latency on a shared machine also moves with everyone else's work, so each window also
 * reports where the CPU went (from /proc): Latch's process, the PostgreSQL server's processes
 * for the soak's database (on PostgreSQL), and the rest of the machine — all CPU used minus
 * those and the load generator. Latch's CPU per operation is its own cost whatever else runs:
 * if it stays flat while the p99 moves, the p99 moved with the machine, not with Latch.
 */
export type SoakOptions = { durationS: number; ratePerSecond: number; concurrency: number; warmupS: number; windowS: number };

export const TARGETS = { serverErrors: 0, p99DriftPercent: 20, rssGrowthPercent: 10 };

export type SoakReport = {
  options: SoakOptions;
  database: 'embedded' | 'postgres';
  operations: number;
  skippedTicks: number;
  byKind: Record<OpKind, { count: number; serverErrors: number; noAnswer: number; wrong: number; p50: number; p99: number }>;
  serverErrors: number;
  noAnswer: number;
  /** what the operations that got no answer ran into, each once (the first 5) */
  noAnswerProblems: string[];
  wrongAnswers: string[];
  errorLogLines: number;
  windows: Array<{ fromS: number; count: number; p99: number; signInP99: number; rssMb: number; machineLoad: number; latchCores: number; databaseCores: number; otherCores: number; cpuMsPerOp: number }>;
  p99DriftPercent: number;
  /** not a target: the change in Latch's (and its database server's) CPU per operation */
  cpuPerOpDriftPercent: number;
  rssGrowthPercent: number;
  rssMb: { afterWarmup: number; end: number; peak: number };
  /** CPU seconds over the whole run (first to last sample), unrounded: a short run's windows round to 0.00 cores */
  cpuSeconds: { latch: number; database: number };
  pass: { serverErrors: boolean; p99Drift: boolean; rssGrowth: boolean };
};

const percentile = (values: number[], p: number) => {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const median = (values: number[]) => percentile(values, 50);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function runSoak(options: SoakOptions, log: (line: string) => void = () => undefined): Promise<SoakReport> {
  const db = await createTestDatabase();
  try {
    // seed in-process, then hand the database to Latch in a process of its own
    const seeding = await startLatch({}, db);
    const fixture = await seedLoadFixture(seeding);
    await seeding.close();

    const port = await freePort();
    const child = await spawnLatch(latchEnv(db, port, { LOG_LEVEL: 'warn', LATCH_DEVICE_POLL_INTERVAL: '5' }));
    log(`Latch pid ${child.pid} at ${child.url} (${db.env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}); load for ${options.durationS} s`);

    const outcomes: Outcome[] = [];
    const rss: Array<{ at: number; mb: number; load: number }> = [];
    const cpu: CpuSample[] = [];
    const started = Date.now();
    const sampleRss = () => {
      const mb = rssMb(child.pid);
      if (mb !== undefined) rss.push({ at: Date.now(), mb, load: os.loadavg()[0]! });
    };
    const cpuSampler = await startCpuSampler(child.pid, db.env.DATABASE_URL, cpu);
    sampleRss();
    const sampler = setInterval(() => {
      sampleRss();
      void cpuSampler.sample();
    }, Math.min(2000, options.windowS * 250));
    const workload = createWorkload(fixture, { target: () => child.url, deviceIntervalSeconds: 5 });
    const load = runLoad(workload, { ratePerSecond: options.ratePerSecond, concurrency: options.concurrency, onOutcome: (o) => outcomes.push(o) });
    const progress = setInterval(() => {
      const last = outcomes.filter((o) => o.at > Date.now() - 10_000);
      log(`${Math.round((Date.now() - started) / 1000)} s: ${outcomes.length} operations, last 10 s p99 ${round(percentile(last.filter((o) => o.kind !== 'signIn').map((o) => o.ms), 99))} ms, RSS ${round(rss.at(-1)?.mb ?? Number.NaN)} MiB`);
    }, 30_000);
    await new Promise((resolve) => setTimeout(resolve, options.durationS * 1000));
    clearInterval(progress);
    await load.stop();
    clearInterval(sampler);
    sampleRss();
    await cpuSampler.sample();
    await cpuSampler.close();
    const stopped = await child.stop('SIGTERM');
    if (stopped.code !== 0) log(`Latch exited with ${stopped.code ?? stopped.signal}`);

    return summarise(options, db.env.DATABASE_URL ? 'postgres' : 'embedded', started, outcomes, rss, cpu, load.skipped, child.errorLines().length);
  } finally {
    await cleanupTestDatabases();
  }
}

/** Running totals of CPU seconds since the soak began, taken together. */
type CpuSample = { at: number; latchS: number; databaseS: number; ownS: number; machineS: number };

/**
 * Samples CPU use: Latch's process, the load generator (this process), the whole machine, and
 * on PostgreSQL the server's processes for the soak's database (its backends and the shared
 * helpers, as the bench counts them; backends that come and go are counted while they live).
 */
async function startCpuSampler(latchPid: number, databaseUrl: string | undefined, samples: CpuSample[]) {
  const knex = databaseUrl ? knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } }) : undefined;
  const databasePids = knex ? postgresPidsOf(knex, () => [decodeURIComponent(new URL(databaseUrl!).pathname.slice(1))]) : async () => [];
  // the database's processes count from now, not from when the server started
  let snapshot: CpuSnapshot = snapshotCpu(await databasePids());
  let databaseS = 0;
  let sampling: Promise<void> | undefined;
  const take = async () => {
    const pids = await databasePids().catch(() => [...snapshot.keys()]);
    databaseS += cpuSince(snapshot, pids);
    snapshot = snapshotCpu(pids);
    const latchS = cpuSeconds(latchPid);
    if (latchS !== undefined) samples.push({ at: Date.now(), latchS, databaseS, ownS: ownCpuSeconds(), machineS: machineBusySeconds() });
  };
  const sample = () => (sampling ??= take().finally(() => (sampling = undefined)));
  await sample();
  return { sample, close: async () => knex?.destroy() };
}

/** CPU in cores over [from, to), from the samples nearest to its ends. */
function cpuBetween(samples: CpuSample[], from: number, to: number, count: number) {
  const at = (t: number) => samples.filter((s) => s.at <= t).at(-1) ?? samples[0];
  const a = at(from);
  const b = at(to);
  const seconds = a && b ? (b.at - a.at) / 1000 : 0;
  if (!a || !b || seconds <= 0) return { latchCores: Number.NaN, databaseCores: Number.NaN, otherCores: Number.NaN, cpuMsPerOp: Number.NaN };
  const latch = b.latchS - a.latchS;
  const database = b.databaseS - a.databaseS;
  const other = Math.max(0, b.machineS - a.machineS - latch - database - (b.ownS - a.ownS));
  return {
    latchCores: round(latch / seconds, 2),
    databaseCores: round(database / seconds, 2),
    otherCores: round(other / seconds, 2),
    cpuMsPerOp: count ? round(((latch + database) * 1000) / count, 2) : Number.NaN,
  };
}

function summarise(options: SoakOptions, database: SoakReport['database'], started: number, outcomes: Outcome[], rss: Array<{ at: number; mb: number; load: number }>, cpu: CpuSample[], skippedTicks: number, errorLogLines: number): SoakReport {
  const byKind = Object.fromEntries(
    OP_KINDS.map((kind) => {
      const mine = outcomes.filter((o) => o.kind === kind);
      return [kind, {
        count: mine.length,
        serverErrors: mine.filter((o) => o.status >= 500).length,
        noAnswer: mine.filter((o) => o.status === 0).length,
        wrong: mine.filter((o) => o.status > 0 && o.status < 500 && o.problem).length,
        p50: round(percentile(mine.map((o) => o.ms), 50)),
        p99: round(percentile(mine.map((o) => o.ms), 99)),
      }];
    }),
  ) as SoakReport['byKind'];

  // windows after warm-up; the last one ends with the run
  const windows: SoakReport['windows'] = [];
  const end = started + options.durationS * 1000;
  for (let from = started + options.warmupS * 1000; from + options.windowS * 1000 <= end + 1; from += options.windowS * 1000) {
    const to = from + options.windowS * 1000;
    const inWindow = outcomes.filter((o) => o.at >= from && o.at < to);
    windows.push({
      fromS: round((from - started) / 1000, 0),
      count: inWindow.length,
      p99: round(percentile(inWindow.filter((o) => o.kind !== 'signIn').map((o) => o.ms), 99)),
      signInP99: round(percentile(inWindow.filter((o) => o.kind === 'signIn').map((o) => o.ms), 99)),
      rssMb: round(median(rss.filter((s) => s.at >= from && s.at < to).map((s) => s.mb))),
      machineLoad: round(median(rss.filter((s) => s.at >= from && s.at < to).map((s) => s.load))),
      ...cpuBetween(cpu, from, to, inWindow.length),
    });
  }
  const first = windows[0];
  const last = windows.at(-1);
  const p99DriftPercent = first && last ? round(((last.p99 - first.p99) / first.p99) * 100) : Number.NaN;
  const rssGrowthPercent = first && last ? round(((last.rssMb - first.rssMb) / first.rssMb) * 100) : Number.NaN;
  const cpuPerOpDriftPercent = first && last ? round(((last.cpuMsPerOp - first.cpuMsPerOp) / first.cpuMsPerOp) * 100) : Number.NaN;
  const serverErrors = outcomes.filter((o) => o.status >= 500).length;
  const unanswered = outcomes.filter((o) => o.status === 0);
  const noAnswer = unanswered.length;
  const noAnswerProblems = [...new Set(unanswered.map((o) => `${o.kind}: ${o.problem ?? 'no answer'}`))].slice(0, 5);
  const wrongAnswers = [...new Set(outcomes.filter((o) => o.status > 0 && o.status < 500 && o.problem).map((o) => `${o.kind}: ${o.status} ${o.problem}`))];
  return {
    options,
    database,
    operations: outcomes.length,
    skippedTicks,
    byKind,
    serverErrors,
    noAnswer,
    noAnswerProblems,
    wrongAnswers,
    errorLogLines,
    windows,
    p99DriftPercent,
    cpuPerOpDriftPercent,
    rssGrowthPercent,
    rssMb: { afterWarmup: first?.rssMb ?? Number.NaN, end: round(rss.at(-1)?.mb ?? Number.NaN), peak: round(Math.max(...rss.map((s) => s.mb))) },
    cpuSeconds: { latch: (cpu.at(-1)?.latchS ?? 0) - (cpu[0]?.latchS ?? 0), database: (cpu.at(-1)?.databaseS ?? 0) - (cpu[0]?.databaseS ?? 0) },
    pass: {
      serverErrors: serverErrors + noAnswer === TARGETS.serverErrors && errorLogLines === 0,
      p99Drift: p99DriftPercent < TARGETS.p99DriftPercent,
      rssGrowth: rssGrowthPercent < TARGETS.rssGrowthPercent,
    },
  };
}

export function formatReport(r: SoakReport): string {
  const lines = [
    `Soak: ${r.options.durationS} s at ${r.options.ratePerSecond} operations/s (≤ ${r.options.concurrency} at once), ${r.database} database`,
    `${r.operations} operations; ${r.skippedTicks} ticks skipped with ${r.options.concurrency} in flight`,
    '',
    'operation          count   5xx  no answer  wrong   p50 ms   p99 ms',
    ...OP_KINDS.map((k) => {
      const s = r.byKind[k];
      return `${k.padEnd(17)} ${String(s.count).padStart(6)} ${String(s.serverErrors).padStart(5)} ${String(s.noAnswer).padStart(10)} ${String(s.wrong).padStart(6)} ${String(s.p50).padStart(8)} ${String(s.p99).padStart(8)}`;
    }),
    '',
    `windows of ${r.options.windowS} s after ${r.options.warmupS} s of warm-up (p99 of single requests; sign-ins are whole flows):`,
    ...r.windows.map((w) => `  from ${String(w.fromS).padStart(5)} s: ${String(w.count).padStart(6)} ops, p99 ${String(w.p99).padStart(7)} ms, sign-in p99 ${String(w.signInP99).padStart(7)} ms, RSS ${w.rssMb} MiB, machine load ${w.machineLoad}`),
    '',
    `CPU per window, in cores: Latch${r.database === 'postgres' ? ' + PostgreSQL' : ''}, and the rest of the machine (all of it but Latch${r.database === 'postgres' ? ', PostgreSQL' : ''} and the load generator):`,
    ...r.windows.map((w) => `  from ${String(w.fromS).padStart(5)} s: Latch ${w.latchCores.toFixed(2)}${r.database === 'postgres' ? ` + PostgreSQL ${w.databaseCores.toFixed(2)}` : ''} (${w.cpuMsPerOp} ms per operation), other work ${w.otherCores.toFixed(2)}`),
    '',
    `5xx / no answer: ${r.serverErrors} / ${r.noAnswer}; error lines in Latch's log: ${r.errorLogLines}   target 0          ${r.pass.serverErrors ? 'PASS' : 'FAIL'}`,
    ...r.noAnswerProblems.map((p) => `  no answer: ${p}`),
    `p99 drift, first to last window: ${r.p99DriftPercent} %   target < ${TARGETS.p99DriftPercent} %   ${r.pass.p99Drift ? 'PASS' : 'FAIL'}`,
    `  CPU per operation, first to last window: ${r.windows[0]?.cpuMsPerOp} → ${r.windows.at(-1)?.cpuMsPerOp} ms (${r.cpuPerOpDriftPercent} %); other work ${r.windows[0]?.otherCores.toFixed(2)} → ${r.windows.at(-1)?.otherCores.toFixed(2)} cores`,
    `RSS growth after warm-up: ${r.rssGrowthPercent} % (${r.rssMb.afterWarmup} → ${r.rssMb.end} MiB, peak ${r.rssMb.peak})   target < ${TARGETS.rssGrowthPercent} %   ${r.pass.rssGrowth ? 'PASS' : 'FAIL'}`,
  ];
  if (r.wrongAnswers.length) lines.push('', 'wrong answers (4xx or inactive tokens where none were expected):', ...r.wrongAnswers.slice(0, 20).map((w) => `  ${w}`));
  return `${lines.join('\n')}\n`;
}

export const USAGE = `npm run soak [-- options]
  --duration D      how long to run (default 10m; seconds or 30s/5m/1h)
  --rate N          operations started per second (default 10)
  --concurrency N   at most N operations in flight (default 16)
  --warmup D        left out of the drift and growth figures (default 1m, or a fifth of a short run)
  --window D        the first and last windows compared (default 1m, or a fifth of a short run)
  --json            print the report as JSON
With DATABASE_URL set, Latch runs on a fresh database of that PostgreSQL server (dropped
afterwards); otherwise on a fresh embedded PGlite directory.`;

export function parseSoakArgs(argv: string[]): SoakOptions & { json: boolean } {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seconds = (name: string, fallback: number) => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const s = parseDuration(raw);
    if (s === undefined) throw new Error(`${name}: expected seconds or a duration like 30s, 10m`);
    return s;
  };
  const count = (name: string, fallback: number) => {
    const raw = value(name);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a whole number ≥ 1`);
    return n;
  };
  const known = new Set(['--duration', '--rate', '--concurrency', '--warmup', '--window', '--json', '--help']);
  const unknown = argv.filter((a, i) => a.startsWith('--') && !known.has(a) && !known.has(argv[i - 1] ?? ''));
  if (unknown.length) throw new Error(`unknown option ${unknown[0]}`);
  const durationS = seconds('--duration', 600);
  const short = Math.max(1, Math.round(durationS / 5));
  return {
    durationS,
    ratePerSecond: count('--rate', 10),
    concurrency: count('--concurrency', 16),
    warmupS: seconds('--warmup', durationS >= 300 ? 60 : short),
    windowS: seconds('--window', durationS >= 300 ? 60 : short),
    json: argv.includes('--json'),
  };
}
