import { runClosedLoop } from './measure/closed-loop.js';
import { runFlowLoop } from './measure/flow-loop.js';
import type { WriteCounts } from './measure/write-log.js';
import { runOpenLoop } from './measure/open-loop.js';
import { cpuSince, machineBusySeconds, ownCpuSeconds, snapshotCpu } from './measure/proc.js';
import { waitForQuiet } from './measure/quiet.js';
import { mergeSamples, percentile, type LoadSample } from './measure/sample.js';
import type { ContenderResult, Latency, Measurement, PacedMeasurement } from './report/model.js';
import { basicAuth, form, parseJson, statusProblem } from './scenarios/requests.js';
import type { FloorKind, Prepared, PrepareSizes, Scenario, Target } from './scenarios/types.js';
import { serverPids, type ServerChild } from './servers/child.js';
import type { GcStats } from './servers/ipc.js';

/**
 * Runs one scenario against several servers: prepare and pre-flight each, then measured
 * windows in alternating order (forward, then backward) so drift on the machine hits every
 * server alike, each server warmed up just before its first window and briefly re-warmed
 * before each later one; finally Latch alone at 70 % of its maximum rate.
 */
export type Contender = {
  target: Target;
  child: ServerChild;
  rounds: number;
  /** beforeWindow: before the quiet wait and the re-warm; atWindowStart: as the measured window starts */
  hooks?: { beforeWindow?(): Promise<void>; atWindowStart?(): Promise<void>; afterWindow?(): Promise<void> };
};

export type LoadPlan = {
  connections: number;
  warmupS: number;
  /**
   * unmeasured load right before each window, measured or paced: between its windows a
   * server sits idle while the others are measured (from seconds to over half a minute,
   * with databases to settle between them), and a window that starts out of idle pays for what
   * idleness undid — connections the pool closed after 30 s, V8's heap shrunk by its memory
   * reducer — and not for the scenario
   */
  rewarmS: number;
  windowS: number;
  pacedS: number;
  paced: boolean;
  sizes: PrepareSizes;
  /** the PostgreSQL processes charged to the bench */
  postgresPids(): Promise<number[]>;
  /** wait up to this long before each window for other processes to go quiet (0 = never) */
  quietWaitS: number;
};

const QUIET_THRESHOLD_CORES = 0.25;

/** the open-loop rate for p99 at 70 %: 70 % of a server's maximum, in whole requests per second */
const pacedRate = (maxRps: number) => Math.floor(maxRps * 0.7);

export type Comparison = { results: Map<string, ContenderResult>; paced?: PacedMeasurement | { unavailable: string } };

/** otherCpuS: CPU the rest of the machine used meanwhile (not the server, PostgreSQL or the load generator). */
type Window = { sample: LoadSample; cpuS: number; mainThreadCpuS: number; gc?: GcStats; dbCpuS: number; otherCpuS: number; writes?: WriteCounts };
type Ready = Exclude<Prepared, { unavailable: string }>;

/** Runs a prepared scenario's load for one window: requests (autocannon) or whole flows. */
function load(url: string, prepared: Ready, connections: number, durationS: number): Promise<LoadSample> {
  return 'flow' in prepared ? runFlowLoop(url, prepared.flow, { concurrency: connections * (prepared.usersPerConnection ?? 1), durationS }) : runClosedLoop(url, prepared.source, { connections, durationS });
}

/** unmeasured load before a window (a warm-up or a re-warm); none for 0 s */
async function warm(url: string, prepared: Ready, connections: number, seconds: number): Promise<void> {
  if (seconds > 0) await load(url, prepared, connections, seconds);
}

const countsWrites = (scenario: Scenario, contender: Contender) => !!scenario.countWrites && contender.target.role !== 'floor';

function mergeWrites(all: WriteCounts[]): WriteCounts {
  const byKind: Record<string, number> = {};
  for (const w of all) for (const [kind, n] of Object.entries(w.byKind)) byKind[kind] = (byKind[kind] ?? 0) + n;
  return { total: all.reduce((sum, w) => sum + w.total, 0), byKind };
}

function floorPrepared(kind: FloorKind, target: Target): Prepared {
  if (kind === 'argon2') {
    return { source: { next: () => ({ method: 'POST', path: '/argon2' }) }, check: (status, body) => statusProblem(status, body) };
  }
  if (kind === 'echo') {
    return { source: { next: () => ({ method: 'GET', path: '/echo' }) }, check: (status, body) => statusProblem(status, body) };
  }
  const authorization = basicAuth(target.fixture.machines[0]!);
  const body = form({ grant_type: 'client_credentials', resource: target.fixture.resource, scope: 'read' });
  return {
    source: { next: () => ({ method: 'POST', path: '/jwt', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body }) },
    check: (status, text) => statusProblem(status, text) ?? (String(parseJson(text)?.access_token).split('.').length === 3 ? undefined : 'no JWT'),
  };
}

async function preflight(url: string, prepared: Ready): Promise<string | undefined> {
  if ('flow' in prepared) {
    try {
      await prepared.flow(url, () => undefined);
      return undefined;
    } catch (err) {
      return `a failed flow: ${(err as Error).message}`;
    }
  }
  const spec = prepared.source.next();
  const res = await fetch(url + spec.path, { method: spec.method, headers: spec.headers, body: spec.body });
  const body = await res.text();
  prepared.source.onResponse?.(res.status, body, spec.tag);
  return prepared.check(res.status, body);
}

export function latencyOf(latenciesMs: number[]): Latency {
  const sorted = Float64Array.from(latenciesMs).sort();
  const values = Array.from(sorted);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  return { p50: round(percentile(values, 50)), p90: round(percentile(values, 90)), p99: round(percentile(values, 99)), max: round(values.at(-1) ?? null) };
}

function summarise(windows: Window[], peakRssMb: number): Measurement {
  const counted = windows.flatMap((w) => (w.writes ? [w.writes] : []));
  const merged = mergeSamples(windows.map((w) => w.sample));
  const cpu = windows.reduce((sum, w) => sum + w.cpuS, 0);
  const dbCpu = windows.reduce((sum, w) => sum + w.dbCpuS, 0);
  const mainThreadCpu = windows.reduce((sum, w) => sum + w.mainThreadCpuS, 0);
  const perThousand = (seconds: number) => (merged.responses ? Math.round((seconds / (merged.responses / 1000)) * 10_000) / 10_000 : null);
  const gcWindows = windows.flatMap((w) => (w.gc ? [w.gc] : []));
  const gcPer1k = (pick: (g: GcStats) => number) => perThousand(gcWindows.reduce((sum, g) => sum + pick(g), 0)) ?? 0;
  const round1 = (v: number) => Math.round(v * 10) / 10;
  return {
    rps: round1(merged.ok / merged.durationS),
    responses: merged.responses,
    durationS: round1(merged.durationS),
    latencyMs: latencyOf(merged.latenciesMs),
    errors: { non2xx: merged.non2xx, socket: merged.errors, timeouts: merged.timeouts, statusCounts: merged.statusCounts },
    cpuSecondsPer1k: perThousand(cpu),
    dbCpuSecondsPer1k: perThousand(dbCpu),
    mainThreadCpuSecondsPer1k: perThousand(mainThreadCpu),
    gcPer1k: gcWindows.length === windows.length && merged.responses ? { pauseMs: gcPer1k((g) => g.pauseMs), minor: gcPer1k((g) => g.minor), major: gcPer1k((g) => g.major) } : null,
    peakRssMb: Number.isFinite(peakRssMb) ? round1(peakRssMb) : null,
    ...(counted.length ? { writes: { ...mergeWrites(counted), perUnit: merged.ok ? Math.round((mergeWrites(counted).total / merged.ok) * 100) / 100 : null } } : {}),
    ...(merged.counters ? { counters: merged.counters } : {}),
    ...(merged.firstError ? { firstError: merged.firstError } : {}),
    otherCores: Math.round((windows.reduce((sum, w) => sum + w.otherCpuS, 0) / merged.durationS) * 100) / 100,
    rounds: windows.map((w) => {
      const latency = latencyOf(w.sample.latenciesMs);
      return { rps: round1(w.sample.ok / w.sample.durationS), p50: latency.p50, p99: latency.p99 };
    }),
  };
}

/** a server's GC pauses so far; undefined from a build that does not count them (--versus) */
const gcStats = (child: ServerChild) => child.call<GcStats>('gc-stats').catch(() => undefined);

/** warmS: unmeasured load just before the window (the warm-up before a server's first, the re-warm before the others) */
async function measureWindow(contender: Contender, prepared: Ready, plan: LoadPlan, countWrites: boolean, warmS: number): Promise<Window> {
  await contender.hooks?.beforeWindow?.();
  if (plan.quietWaitS > 0) await waitForQuiet(async () => [...serverPids(), ...(await plan.postgresPids())], plan.quietWaitS, QUIET_THRESHOLD_CORES);
  await warm(contender.target.url, prepared, plan.connections, warmS);
  const pgPids = await plan.postgresPids();
  const gcBefore = await gcStats(contender.child);
  const cpuBefore = contender.child.cpuSeconds();
  const mainBefore = contender.child.mainThreadCpuSeconds();
  const dbBefore = snapshotCpu(pgPids);
  const machineBefore = machineBusySeconds();
  const ownBefore = ownCpuSeconds();
  if (countWrites) await contender.child.call('writes-start');
  await contender.hooks?.atWindowStart?.();
  const sample = await load(contender.target.url, prepared, plan.connections, plan.windowS);
  const writes = countWrites ? await contender.child.call<WriteCounts>('writes-stop') : undefined;
  const cpuS = contender.child.cpuSeconds() - cpuBefore;
  const mainThreadCpuS = contender.child.mainThreadCpuSeconds() - mainBefore;
  const dbCpuS = cpuSince(dbBefore, [...new Set([...pgPids, ...(await plan.postgresPids())])]);
  const otherCpuS = Math.max(0, machineBusySeconds() - machineBefore - cpuS - dbCpuS - (ownCpuSeconds() - ownBefore));
  const gcAfter = await gcStats(contender.child);
  await contender.hooks?.afterWindow?.();
  const gc = gcBefore && gcAfter ? { pauseMs: gcAfter.pauseMs - gcBefore.pauseMs, minor: gcAfter.minor - gcBefore.minor, major: gcAfter.major - gcBefore.major } : undefined;
  return { sample, cpuS, mainThreadCpuS, gc, dbCpuS, otherCpuS, writes };
}

export async function compare(scenario: Scenario, contenders: Contender[], plan: LoadPlan, log: (line: string) => void): Promise<Comparison> {
  const results = new Map<string, ContenderResult>();
  const ready: { contender: Contender; prepared: Ready }[] = [];
  const flowWrites = new Map<string, WriteCounts>();

  for (const contender of contenders) {
    const { target } = contender;
    let prepared: Prepared;
    try {
      prepared = target.role === 'floor' ? floorPrepared(scenario.floor, target) : await scenario.prepare(target, plan.sizes);
      if (!('unavailable' in prepared)) {
        let problem = await preflight(target.url, prepared);
        // then one flow alone, nothing else running: its writes are the exact count
        if (!problem && countsWrites(scenario, contender) && 'flow' in prepared) {
          await contender.child.call('writes-start');
          problem = await preflight(target.url, { flow: prepared.probe ?? prepared.flow });
          flowWrites.set(target.label, await contender.child.call<WriteCounts>('writes-stop'));
        }
        if (problem) prepared = { unavailable: `the pre-flight request was answered ${problem}` };
      }
    } catch (err) {
      prepared = { unavailable: (err as Error).message };
    }
    if ('unavailable' in prepared) {
      log(`  ${target.label}: not measured: ${prepared.unavailable}`);
      results.set(target.label, { status: 'unavailable', label: target.label, reason: prepared.unavailable });
    } else {
      ready.push({ contender, prepared });
    }
  }

  const windows = new Map<string, Window[]>(ready.map(({ contender }) => [contender.target.label, []]));
  const maxRounds = Math.max(0, ...ready.map(({ contender }) => contender.rounds));
  for (let round = 0; round < maxRounds; round += 1) {
    const order = round % 2 === 0 ? ready : [...ready].reverse();
    for (const { contender, prepared } of order) {
      if (round >= contender.rounds) continue;
      // each server warms up just before its own first window, not before the others' windows
      const window = await measureWindow(contender, prepared, plan, countsWrites(scenario, contender), round === 0 ? plan.warmupS : plan.rewarmS);
      windows.get(contender.target.label)!.push(window);
      const latency = latencyOf(window.sample.latenciesMs);
      log(
        `  ${contender.target.label.padEnd(12)} round ${round + 1}: ${(window.sample.ok / window.sample.durationS).toFixed(0)} req/s, ` +
          `p50 ${latency.p50} ms, p99 ${latency.p99} ms, non-2xx ${window.sample.non2xx}, errors ${window.sample.errors}, other processes ${(window.otherCpuS / window.sample.durationS).toFixed(2)} cores` +
          (window.writes ? `, ${window.writes.total} writes` : '') +
          (window.sample.firstError ? `; first failure: ${window.sample.firstError}` : ''),
      );
    }
  }
  for (const { contender } of ready) {
    const label = contender.target.label;
    const measurement = summarise(windows.get(label)!, contender.child.peakRssMb());
    const oneFlow = flowWrites.get(label);
    results.set(label, { status: 'measured', label, measurement, ...(contender.target.role === 'floor' ? { floorKind: scenario.floor } : {}), ...(oneFlow ? { flowWrites: oneFlow } : {}) });
  }

  if (!plan.paced) return { results };
  const latch = ready.find(({ contender }) => contender.target.role === 'latch');
  const latchResult = latch && results.get(latch.contender.target.label);
  if (!latch || !('source' in latch.prepared)) return { results, paced: { unavailable: 'open-loop pacing needs a request stream' } };
  if (latchResult?.status !== 'measured') return { results, paced: { unavailable: 'Latch was not measured' } };
  const rate = pacedRate(latchResult.measurement.rps);
  if (rate < 1) return { results, paced: { unavailable: 'Latch served no requests at full load' } };
  await warm(latch.contender.target.url, latch.prepared, plan.connections, plan.rewarmS);
  const sample = await runOpenLoop(latch.contender.target.url, latch.prepared.source, { rate, durationS: plan.pacedS });
  const latency = latencyOf(sample.latenciesMs);
  const generatorDelayMaxMs = sample.generatorDelayMaxMs ?? 0;
  log(`  ${latch.contender.target.label.padEnd(12)} at 70 % (${rate} req/s): p50 ${latency.p50} ms, p99 ${latency.p99} ms, statuses ${JSON.stringify(sample.statusCounts)}; the generator's own longest delay ${generatorDelayMaxMs} ms`);
  const ceiling = ready.find(({ contender }) => contender.target.role === 'ceiling');
  const ceilingResult = ceiling && results.get(ceiling.contender.target.label);
  let ceilingLatencyMs: PacedMeasurement['ceilingLatencyMs'];
  let ceilingOwn: PacedMeasurement['ceilingOwn'];
  if (ceiling && 'source' in ceiling.prepared && ceilingResult?.status === 'measured') {
    // the same rate against the ceiling: how much of that p99 the machine and the load generator cause on their own
    await warm(ceiling.contender.target.url, ceiling.prepared, plan.connections, plan.rewarmS);
    ceilingLatencyMs = latencyOf((await runOpenLoop(ceiling.contender.target.url, ceiling.prepared.source, { rate, durationS: plan.pacedS })).latenciesMs);
    log(`  ${ceiling.contender.target.label.padEnd(12)} at the same rate: p50 ${ceilingLatencyMs.p50} ms, p99 ${ceilingLatencyMs.p99} ms`);
    // and at 70 % of its own maximum: whether stock oidc-provider meets the target on this machine
    const ownRate = pacedRate(ceilingResult.measurement.rps);
    if (ownRate >= 1) {
      ceilingOwn = { targetRps: ownRate, latencyMs: latencyOf((await runOpenLoop(ceiling.contender.target.url, ceiling.prepared.source, { rate: ownRate, durationS: plan.pacedS })).latenciesMs) };
      log(`  ${ceiling.contender.target.label.padEnd(12)} at 70 % of its own (${ownRate} req/s): p50 ${ceilingOwn.latencyMs.p50} ms, p99 ${ceilingOwn.latencyMs.p99} ms`);
    }
  }
  return {
    results,
    paced: {
      targetRps: rate,
      achievedRps: Math.round((sample.ok / sample.durationS) * 10) / 10,
      latencyMs: latency,
      errors: { non2xx: sample.non2xx, socket: sample.errors, timeouts: sample.timeouts, statusCounts: sample.statusCounts },
      generatorDelayMaxMs,
      ...(ceilingLatencyMs ? { ceilingLatencyMs } : {}),
      ...(ceilingOwn ? { ceilingOwn } : {}),
    },
  };
}
