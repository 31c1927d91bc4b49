import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { expectedScenarioIds, SCENARIOS } from '../../bench/scenarios/index.js';
import { isPending } from '../../bench/scenarios/types.js';
import { STORED_CEILING_LABEL, VERSUS_LABEL, type BenchReport, type ContenderResult, type Measurement } from '../../bench/report/model.js';
import { repoRoot } from '../support/cli.js';

/**
 * `npm run bench -- --smoke` runs start to finish (its own databases on DATABASE_URL's
 * server, or on the local PostgreSQL) and writes a well-formed report. Speed is not tested.
 */
// generous: the bench first compiles its servers with tsc (about 11 s alone, more beside the other test pass)
const SMOKE_TIMEOUT_MS = 300_000;

function runSmoke(outDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile('npm', ['run', '--silent', 'bench', '--', '--smoke', '--versus', 'HEAD', '--out-dir', outDir], { cwd: repoRoot, env, timeout: SMOKE_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** the scenarios the stored ceiling runs in: those that read or write tokens */
const STORING = SCENARIOS.filter((x) => !isPending(x) && x.storesTokens).map((x) => x.id);

function expectNumber(value: unknown, what: string) {
  expect(value, what).to.be.a('number');
  expect(Number.isFinite(value), what).to.equal(true);
}

function expectMeasurement(m: Measurement, what: string) {
  expectNumber(m.rps, `${what} rps`);
  expectNumber(m.responses, `${what} responses`);
  expectNumber(m.latencyMs.p50, `${what} p50`);
  expectNumber(m.latencyMs.p99, `${what} p99`);
  expectNumber(m.errors.non2xx, `${what} non-2xx`);
  expectNumber(m.errors.socket, `${what} socket errors`);
  expectNumber(m.errors.timeouts, `${what} timeouts`);
  expectNumber(m.cpuSecondsPer1k, `${what} CPU per 1k`);
  expectNumber(m.peakRssMb, `${what} peak RSS`);
}

function expectResult(result: ContenderResult, what: string) {
  if (result.status === 'measured') expectMeasurement(result.measurement, what);
  else expect(result.reason, `${what} reason`).to.be.a('string').and.not.equal('');
}

describe('npm run bench -- --smoke', function () {
  this.timeout(SMOKE_TIMEOUT_MS + 10_000);
  let outDir: string;
  let run: { code: number; stdout: string; stderr: string };
  let report: BenchReport;

  before(async function () {
    // The benchmark always runs Latch on PostgreSQL, so one pass checks it: the DATABASE_URL one.
    if (!process.env.DATABASE_URL) {
      console.log('\n  NOTICE: the benchmark runs on PostgreSQL; its smoke run is checked in the DATABASE_URL pass of npm test\n');
      this.skip();
    }
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-bench-'));
    run = await runSmoke(outDir);
    const json = fs.readdirSync(outDir).find((f) => f.endsWith('.json'));
    if (json) report = JSON.parse(fs.readFileSync(path.join(outDir, json), 'utf8')) as BenchReport;
  });
  after(() => outDir && fs.rmSync(outDir, { recursive: true, force: true }));

  it('exits 0, prints the table and writes JSON and Markdown', () => {
    expect(run.code, run.stderr.slice(-4000)).to.equal(0);
    expect(run.stdout).to.include('| # | scenario | Latch req/s | ceiling req/s | floor req/s |');
    const files = fs.readdirSync(outDir);
    expect(files.filter((f) => f.endsWith('.json'))).to.have.length(1);
    expect(files.filter((f) => f.endsWith('.md'))).to.have.length(1);
    expect(report.version).to.equal(1);
    expect(report.mode).to.equal('smoke');
  });

  it('reports every scenario, measured or with the reason it is not yet available', () => {
    expect(report.scenarios.map((s) => s.id)).to.deep.equal(expectedScenarioIds());
    for (const s of report.scenarios) {
      if (s.status === 'not-yet-available') {
        expect(s.reason, s.id).to.be.a('string').and.not.equal('');
        expect(s.needs, s.id).to.be.an('array').that.is.not.empty;
        continue;
      }
      expectResult(s.latch, `${s.id} latch`);
      const expectedBaselines = s.id.startsWith('9/') ? ['empty table'] : ['ceiling', 'floor', ...(STORING.includes(s.id) ? [STORED_CEILING_LABEL] : []), VERSUS_LABEL].sort();
      expect(Object.keys(s.baselines).sort(), s.id).to.deep.equal(expectedBaselines);
      for (const [label, result] of Object.entries(s.baselines)) {
        expectResult(result, `${s.id} ${label}`);
        if (s.latch.status === 'measured' && result.status === 'measured') {
          expectNumber(s.ratios[label]?.rps, `${s.id} ratio to ${label}`);
          expectNumber(s.ratios[label]?.p99, `${s.id} p99 ratio to ${label}`);
        }
      }
    }
    // growth: where the time goes, the server's CPU and PostgreSQL's beside the empty table's
    for (const s of report.scenarios.filter((x) => x.id.startsWith('9/'))) {
      if (s.status !== 'measured' || s.latch.status !== 'measured') continue;
      expectNumber(s.ratios['empty table']?.cpuPer1k, `${s.id} CPU ratio to the empty table`);
      // the prune job was working in every one of the growth Latch's windows
      expect(s.growth?.pruneRuns, `${s.id} prune runs per window`).to.have.length(s.growth!.expiredRowsAtStart.length);
      for (const runs of s.growth!.pruneRuns) expect(runs, `${s.id} prune runs in a window`).to.be.at.least(1);
      expect(s.growth!.prunedDuringWindows, `${s.id} rows pruned`).to.be.greaterThan(0);
    }
    expect(run.stdout).to.include("| p99 ratio | CPU-s / 1k: empty · growth | CPU ratio | rows pruned meanwhile |");
  });

  it('measures Latch on the machine-to-machine hot path and at 70 % of its rate', () => {
    const cc = report.scenarios.find((s) => s.id === '1');
    expect(cc?.status).to.equal('measured');
    if (cc?.status !== 'measured') return;
    expect(cc.latch.status).to.equal('measured');
    expect(cc.pacedAt70 && 'latencyMs' in cc.pacedAt70).to.equal(true);
    if (cc.pacedAt70 && 'latencyMs' in cc.pacedAt70) {
      expectNumber(cc.pacedAt70.latencyMs.p99, 'p99 at 70 %');
      expectNumber(cc.pacedAt70.ceilingLatencyMs?.p99, "the ceiling's p99 at the same rate");
      expectNumber(cc.pacedAt70.ceilingOwn?.latencyMs.p99, "the ceiling's p99 at 70 % of its own rate");
      expectNumber(cc.pacedAt70.ceilingOwn?.targetRps, "the ceiling's own 70 % rate");
      expectNumber(cc.pacedAt70.generatorDelayMaxMs, "the generator's own longest delay");
    }
  });

  it("splits each server's CPU between its main thread and the other threads, and counts its GC pauses", () => {
    const cc = report.scenarios.find((s) => s.id === '1');
    if (cc?.status !== 'measured') expect.fail('scenario 1 was not measured');
    for (const result of [cc.latch, cc.baselines.ceiling, cc.baselines.floor]) {
      if (result?.status !== 'measured') expect.fail(`scenario 1 ${result?.label} was not measured`);
      const m = result.measurement;
      expectNumber(m.mainThreadCpuSecondsPer1k, `${result.label} main-thread CPU per 1k`);
      expect(m.mainThreadCpuSecondsPer1k!, `${result.label}: the main thread's CPU is part of the process's`).to.be.at.most(m.cpuSecondsPer1k! + 0.0001);
      expectNumber(m.gcPer1k?.pauseMs, `${result.label} GC pause per 1k`);
      expectNumber(m.gcPer1k?.minor, `${result.label} minor GCs per 1k`);
      expectNumber(m.gcPer1k?.major, `${result.label} major GCs per 1k`);
    }
    expect(run.stdout).to.include('| # | server | CPU-s / 1k | main thread | other threads | GC pause ms / 1k |');
  });

  it('runs whole flows (6: password sign-in, 7: device approval) and counts the writes of one flow on Latch and the ceiling', () => {
    for (const id of ['6', '7']) {
      const s = report.scenarios.find((x) => x.id === id);
      expect(s?.status, id).to.equal('measured');
      if (s?.status !== 'measured') continue;
      expect(s.unit, id).to.equal('flows');
      for (const result of [s.latch, s.baselines.ceiling]) {
        expect(result?.status, `${id} ${result?.label}`).to.equal('measured');
        if (result?.status !== 'measured') continue;
        expect(result.measurement.responses, `${id} ${result.label} completed flows`).to.be.greaterThan(0);
        expect(result.flowWrites?.total, `${id} ${result.label} writes of one flow`).to.be.a('number').and.greaterThan(0);
        const byKind = Object.values(result.flowWrites?.byKind ?? {}).reduce((sum, n) => sum + n, 0);
        expect(byKind, `${id} ${result.label} writes by kind add up`).to.equal(result.flowWrites?.total);
      }
    }
    const writesTarget = report.targets.find((t) => t.scenario === '6' && t.required === '≤ 6');
    expect(writesTarget?.actual).to.match(/^\d+: /);
    const device = report.scenarios.find((x) => x.id === '7');
    if (device?.status === 'measured' && device.latch.status === 'measured') expect(device.latch.measurement.counters?.polls).to.be.greaterThan(0);
  });

  it('runs stock oidc-provider on PostgreSQL beside the in-memory ceiling where tokens are read or written, and counts its writes per flow', () => {
    expect(STORING).to.include.members(['2', '3a', '3b', '5', '6', '7']);
    for (const s of report.scenarios) {
      if (s.status !== 'measured' || s.id.startsWith('9/')) continue;
      const stored = s.baselines[STORED_CEILING_LABEL];
      if (!STORING.includes(s.id)) {
        expect(stored, `${s.id}: no stored ceiling where no token is stored`).to.equal(undefined);
        continue;
      }
      expect(stored?.status, `${s.id} ${STORED_CEILING_LABEL}`).to.equal('measured');
      if (stored?.status !== 'measured') continue;
      expect(stored.measurement.responses, `${s.id} ${STORED_CEILING_LABEL} responses`).to.be.greaterThan(0);
      // its tokens are in PostgreSQL: the database worked in its windows (the flows of a smoke window are too few to show in /proc's ticks)
      if (!s.unit) expect(stored.measurement.dbCpuSecondsPer1k, `${s.id} ${STORED_CEILING_LABEL} PostgreSQL CPU`).to.be.greaterThan(0);
      expectNumber(s.ratios[STORED_CEILING_LABEL]?.rps, `${s.id} Latch ÷ ${STORED_CEILING_LABEL}`);
    }
    const flow = report.scenarios.find((x) => x.id === '6');
    if (flow?.status !== 'measured') expect.fail('scenario 6 was not measured');
    const stored = flow.baselines[STORED_CEILING_LABEL];
    if (stored?.status !== 'measured') expect.fail(`scenario 6 ${STORED_CEILING_LABEL} was not measured`);
    expect(stored.flowWrites?.total, 'the stored ceiling writes a flow to PostgreSQL').to.be.greaterThan(0);
    expect(run.stdout).to.include('## Stock oidc-provider on PostgreSQL (the stored ceiling)');
    expect(report.servers[STORED_CEILING_LABEL]?.endRssMb, "the stored ceiling's RSS").to.be.a('number');
  });

  it('with --versus, runs Latch as another commit had it beside this one and reports this ÷ that', () => {
    expect(report.settings.versus?.ref).to.equal('HEAD');
    expect(report.settings.versus?.sha).to.match(/^[0-9a-f]{40}$/);
    const cc = report.scenarios.find((s) => s.id === '1');
    if (cc?.status !== 'measured') expect.fail('scenario 1 was not measured');
    expectResult(cc.baselines[VERSUS_LABEL]!, 'scenario 1 versus');
    expect(cc.baselines[VERSUS_LABEL]?.status).to.equal('measured');
    expectNumber(cc.ratios[VERSUS_LABEL]?.rps, 'req/s ratio to the other build');
    expectNumber(cc.ratios[VERSUS_LABEL]?.cpuPer1k, 'CPU ratio to the other build');
    expect(run.stdout).to.match(/## This build against HEAD \([0-9a-f]{12}\)/);
    expect(report.servers['latch at HEAD']?.endRssMb, "the other build's RSS").to.be.a('number');
  });

  it('evaluates every target and Latch memory', () => {
    expect(report.targets.length).to.be.greaterThan(0);
    for (const t of report.targets) expect([true, false, null], `${t.scenario} ${t.description}`).to.include(t.met);
    expectNumber(report.servers.latch?.endRssMb, 'Latch RSS at end');
    const measured = report.scenarios.filter((s) => s.status === 'measured' && !s.id.startsWith('9/')).map((s) => s.id);
    expect(report.rssAfterScenarioMb.map((r) => r.scenario).filter((id) => id !== '9'), 'RSS noted after each scenario').to.deep.equal(measured);
    for (const r of report.rssAfterScenarioMb) expectNumber(r.mb.latch, `Latch RSS after ${r.scenario}`);
    expect(run.stdout).to.match(/RSS \(MB\) after each scenario:/);
  });
});
