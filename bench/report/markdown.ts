import { ratiosBetween } from './evaluate.js';
import { STORED_CEILING_LABEL, VERSUS_LABEL, type BenchReport, type ContenderResult, type Measurement, type PacedMeasurement, type ScenarioReport } from './model.js';

/** The report as Markdown tables: throughput and latency, growth, targets, pending, memory. */
type Measured = Extract<ScenarioReport, { status: 'measured' }>;

const num = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '—' : v.toFixed(digits));
const fig = (result: ContenderResult | undefined, pick: (m: Measurement) => string) =>
  !result ? '—' : result.status === 'measured' ? pick(result.measurement) : 'n/a';
const rps = (m: Measurement) => num(m.rps);
const lat = (m: Measurement) => `${num(m.latencyMs.p50, 1)} / ${num(m.latencyMs.p99, 1)}`;
const failures = (m: Measurement) => String(m.errors.non2xx + m.errors.socket + m.errors.timeouts);
const cpu = (m: Measurement) => num(m.cpuSecondsPer1k, 3);
const other = (m: Measurement) => num(m.otherCores, 2);

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Latch's p99 at 70 %, then in brackets the ceiling's at the same rate and at 70 % of its own maximum */
function pacedCell(p: PacedMeasurement): string {
  const ceiling = [
    ...(p.ceilingLatencyMs ? [`ceiling ${num(p.ceilingLatencyMs.p99, 1)}`] : []),
    ...(p.ceilingOwn ? [`at its own 70 %: ${num(p.ceilingOwn.latencyMs.p99, 1)} @ ${num(p.ceilingOwn.targetRps)}/s`] : []),
  ];
  return `${num(p.latencyMs.p99, 1)} @ ${num(p.targetRps)}/s${ceiling.length ? ` (${ceiling.join('; ')})` : ''}`;
}

function mainRow(s: Measured): string[] {
  const ceiling = s.baselines.ceiling;
  const floor = s.baselines.floor;
  const latch = s.latch;
  const latchCpu = latch.status === 'measured' ? `${cpu(latch.measurement)} (+${num(latch.measurement.dbCpuSecondsPer1k, 3)} db)` : 'n/a';
  const paced = s.pacedAt70 ? ('latencyMs' in s.pacedAt70 ? pacedCell(s.pacedAt70) : 'n/a') : '—';
  const floorKind = floor?.status === 'measured' && floor.floorKind ? ` (${floor.floorKind})` : '';
  return [
    s.id,
    s.title,
    fig(latch, rps),
    fig(ceiling, rps),
    `${fig(floor, rps)}${floorKind}`,
    num(s.ratios.ceiling?.rps, 2),
    num(s.ratios.floor?.rps, 2),
    `${fig(latch, lat)} · ${fig(ceiling, lat)} · ${fig(floor, lat)}`,
    paced,
    `${latchCpu} · ${fig(ceiling, cpu)} · ${fig(floor, cpu)}`,
    `${fig(latch, failures)} · ${fig(ceiling, failures)} · ${fig(floor, failures)}`,
    `${fig(latch, other)} · ${fig(ceiling, other)} · ${fig(floor, other)}`,
  ];
}

const writesOf = (result: ContenderResult | undefined) => {
  if (result?.status !== 'measured') return '—';
  const one = result.flowWrites;
  const under = result.measurement.writes;
  const kinds = one ? Object.entries(one.byKind).map(([kind, n]) => (n > 1 ? `${n} × ${kind}` : kind)).join(', ') : '';
  return `${one ? `**${one.total}** (${kinds})` : '—'}${under ? `; under load ${num(under.perUnit, 2)} per flow` : ''}`;
};

const countersOf = (result: ContenderResult | undefined) => {
  if (result?.status !== 'measured' || !result.measurement.counters) return '—';
  const m = result.measurement;
  return Object.entries(m.counters!).map(([name, n]) => `${name} ${num(n / m.durationS, 1)}/s`).join(', ');
};

function flowRow(s: Measured): string[] {
  const failures = (r: ContenderResult | undefined) => (r?.status === 'measured' ? `${r.measurement.errors.socket}${r.measurement.firstError ? ` (${r.measurement.firstError.slice(0, 120)})` : ''}` : '—');
  return [s.id, fig(s.latch, rps), fig(s.baselines.ceiling, rps), writesOf(s.latch), writesOf(s.baselines.ceiling), countersOf(s.latch), countersOf(s.baselines.ceiling), `${failures(s.latch)} · ${failures(s.baselines.ceiling)}`];
}

/** the server's CPU seconds per 1,000 responses, with PostgreSQL's over the same windows */
const cpuWithDb = (m: Measurement) => `${cpu(m)} (+${num(m.dbCpuSecondsPer1k, 3)} db)`;

function growthRow(s: Measured): string[] {
  const empty = s.baselines['empty table'];
  return [
    s.id,
    s.title,
    fig(empty, rps),
    fig(s.latch, rps),
    num(s.ratios['empty table']?.rps, 2),
    fig(empty, lat),
    fig(s.latch, lat),
    num(s.ratios['empty table']?.p99, 2),
    `${fig(empty, cpuWithDb)} · ${fig(s.latch, cpuWithDb)}`,
    num(s.ratios['empty table']?.cpuPer1k, 2),
    s.growth ? `${s.growth.prunedDuringWindows} (${s.growth.pruneRuns.join(', ')} runs)` : '—',
    s.growth ? s.growth.expiredRowsAtStart.join(', ') : '—',
    `${fig(empty, other)} · ${fig(s.latch, other)}`,
  ];
}

/** one row per server measured in a scenario: its CPU split between the main thread and the rest, and its GC pauses */
function threadRows(s: Measured): string[][] {
  const results = [s.latch, ...Object.values(s.baselines)].filter((r): r is Extract<ContenderResult, { status: 'measured' }> => r.status === 'measured');
  return results.map(({ label, measurement: m }) => {
    const helpers = m.cpuSecondsPer1k !== null && m.mainThreadCpuSecondsPer1k !== null ? m.cpuSecondsPer1k - m.mainThreadCpuSecondsPer1k : null;
    return [s.id, label, cpu(m), num(m.mainThreadCpuSecondsPer1k, 3), num(helpers, 3), num(m.gcPer1k?.pauseMs, 1), m.gcPer1k ? `${num(m.gcPer1k.minor, 1)} · ${num(m.gcPer1k.major, 2)}` : '—'];
  });
}

function versusRow(s: Measured): string[] {
  const versus = s.baselines[VERSUS_LABEL];
  const ratios = s.ratios[VERSUS_LABEL];
  return [s.id, s.title, fig(s.latch, rps), fig(versus, rps), num(ratios?.rps, 2), `${fig(s.latch, cpuWithDb)} · ${fig(versus, cpuWithDb)}`, num(ratios?.cpuPer1k, 2), `${fig(s.latch, lat)} · ${fig(versus, lat)}`];
}

/** one baseline's req/s ÷ another's, as Latch's ratios are taken */
const rpsRatio = (a: ContenderResult | undefined, b: ContenderResult | undefined) =>
  a?.status === 'measured' && b?.status === 'measured' ? num(ratiosBetween(a.measurement, b.measurement).rps, 2) : '—';

function storedCeilingRow(s: Measured): string[] {
  const stored = s.baselines[STORED_CEILING_LABEL];
  const ceiling = s.baselines.ceiling;
  return [
    s.id,
    s.title,
    fig(s.latch, rps),
    fig(stored, rps),
    fig(ceiling, rps),
    rpsRatio(stored, ceiling),
    num(s.ratios[STORED_CEILING_LABEL]?.rps, 2),
    `${fig(s.latch, cpuWithDb)} · ${fig(stored, cpuWithDb)} · ${fig(ceiling, cpu)}`,
    `${fig(s.latch, lat)} · ${fig(stored, lat)}`,
    s.unit ? `${writesOf(s.latch)} · ${writesOf(stored)}` : '—',
  ];
}

export function renderMarkdown(report: BenchReport): string {
  const measured = report.scenarios.filter((s): s is Measured => s.status === 'measured');
  const main = measured.filter((s) => !s.id.startsWith('9/'));
  const growth = measured.filter((s) => s.id.startsWith('9/'));
  const flows = main.filter((s) => s.unit);
  const pending = report.scenarios.filter((s) => s.status === 'not-yet-available');
  const unavailableLatch = main.filter((s) => s.latch.status === 'unavailable');
  const st = report.settings;
  const parts = [
    `# Latch benchmark — ${report.mode} run, ${report.startedAt}`,
    `Commit ${report.commit.sha.slice(0, 12)}${report.commit.dirty ? ' (working tree has uncommitted changes)' : ''}; ${report.machine.cpus} × ${report.machine.cpuModel}, ` +
      `Node ${report.machine.node}, ${report.machine.postgres}, oidc-provider ${report.machine.oidcProvider}. ` +
      `${st.connections} keep-alive connections, ${st.warmupS} s warm-up, ${st.rounds} × ${st.windowS} s measured windows per server${st.rewarmS ? ` (each after ${st.rewarmS} s of unmeasured load)` : ''} ` +
      `(floor ${st.floorRounds}), alternating servers; p99 @ 70 % is open-loop for ${st.pacedS} s, then the ceiling at the same rate and at 70 % of its own maximum rate (in brackets). Latch logs at "${st.latchLogLevel}", pool ${st.databasePoolMax}.` +
      (st.quietWaitS ? ` Before each window the bench waited up to ${st.quietWaitS} s for other processes to use under 0.25 cores.` : ''),
    '',
    'req/s counts 2xx responses — for the flow scenarios (6, 7) completed flows/s, with a flow\'s whole duration as its latency and CPU per 1,000 flows. Latency p50 / p99 in ms of 2xx responses. CPU is seconds of the server process per 1,000 responses; "db" is every PostgreSQL process over the same window. ' +
      `"Other load" is the CPU other processes on the machine used meanwhile, in cores (noise; the machine has ${report.machine.cpus}). Order in the cells: Latch · ceiling · floor.`,
    '',
    table(
      ['#', 'scenario', 'Latch req/s', 'ceiling req/s', 'floor req/s', 'Latch ÷ ceiling', 'Latch ÷ floor', 'p50 / p99 ms', 'Latch p99 @ 70 %', 'CPU-s / 1k', 'non-2xx + errors', 'other load (cores)'],
      main.map(mainRow),
    ),
  ];
  if (st.versus) {
    parts.push(
      '',
      `## This build against ${st.versus.ref} (${st.versus.sha.slice(0, 12)})`,
      '',
      `Both builds ran as instances on the same database under the same load, their windows alternating. Ratios are this build ÷ ${st.versus.ref}: above 1 for req/s, below 1 for CPU, is better.`,
      '',
      table(['#', 'scenario', 'req/s', `${st.versus.ref} req/s`, 'req/s ratio', `CPU-s / 1k: this · ${st.versus.ref}`, 'CPU ratio', `p50 / p99 ms: this · ${st.versus.ref}`], main.map(versusRow)),
    );
  }
  const stored = main.filter((s) => s.baselines[STORED_CEILING_LABEL]);
  if (stored.length) {
    parts.push(
      '',
      '## Stock oidc-provider on PostgreSQL (the stored ceiling)',
      '',
      `The ceiling again, keeping its models in PostgreSQL (${STORED_CEILING_LABEL}): one prepared statement per adapter call, nothing batched. ${STORED_CEILING_LABEL} ÷ ceiling is what keeping tokens in PostgreSQL on these cores costs stock oidc-provider; Latch ÷ ${STORED_CEILING_LABEL} is what Latch costs beyond that.`,
      '',
      table(
        ['#', 'scenario', 'Latch req/s', `${STORED_CEILING_LABEL} req/s`, 'ceiling req/s', `${STORED_CEILING_LABEL} ÷ ceiling`, `Latch ÷ ${STORED_CEILING_LABEL}`, `CPU-s / 1k: Latch · ${STORED_CEILING_LABEL} · ceiling`, `p50 / p99 ms: Latch · ${STORED_CEILING_LABEL}`, `writes per flow: Latch · ${STORED_CEILING_LABEL}`],
        stored.map(storedCeilingRow),
      ),
    );
  }
  if (unavailableLatch.length) {
    parts.push('', ...unavailableLatch.map((s) => `- Scenario ${s.id}: Latch not measured — ${s.latch.status === 'unavailable' ? s.latch.reason : ''}`));
  }
  if (flows.length) {
    parts.push(
      '',
      '## Flows: database writes and requests',
      '',
      'Writes of one flow run alone: Latch counts INSERT/UPDATE/DELETE statements from its query log (oidc_payloads by model); the ceiling counts its in-memory adapter\'s upsert/consume/destroy calls. "Under load" divides the writes of the measured windows by the flows completed in them.',
      '',
      table(['#', 'Latch flows/s', 'ceiling flows/s', 'Latch writes per flow', 'ceiling writes per flow', 'Latch requests', 'ceiling requests', 'failed flows (Latch · ceiling)'], flows.map(flowRow)),
    );
  }
  if (growth.length) {
    parts.push(
      '',
      `## Growth: ${report.seed.expiredRows.toLocaleString('en')} expired rows in oidc_payloads, prune job running`,
      '',
      table(['#', 'scenario', 'empty req/s', 'growth req/s', 'growth ÷ empty', 'empty p50 / p99', 'growth p50 / p99', 'p99 ratio', 'CPU-s / 1k: empty · growth', 'CPU ratio', 'rows pruned meanwhile', 'expired rows at each window start', 'other load (cores)'], growth.map(growthRow)),
    );
  }
  parts.push(
    '',
    '## CPU by thread, and garbage collection',
    '',
    'Per 1,000 responses: the server process\'s CPU seconds, its main thread\'s (event loop and JavaScript), the other threads\' (V8\'s concurrent GC and compilers, libuv\'s pool), the main thread\'s GC pauses in ms, and how many minor · major collections.',
    '',
    table(['#', 'server', 'CPU-s / 1k', 'main thread', 'other threads', 'GC pause ms / 1k', 'minor · major GCs / 1k'], measured.flatMap(threadRows)),
  );
  parts.push(
    '',
    '## Targets',
    '',
    table(['#', 'target', 'required', 'actual', 'met'], report.targets.map((t) => [t.scenario, t.description, t.required, t.actual, t.met === null ? 'not measured' : t.met ? 'yes' : '**no**'])),
  );
  if (pending.length) {
    parts.push(
      '',
      '## Not yet available',
      '',
      table(['#', 'scenario', 'why', 'needs'], pending.map((s) => (s.status === 'not-yet-available' ? [s.id, s.title, s.reason, s.needs.join('; ')] : []))),
    );
  }
  parts.push(
    '',
    '## Memory',
    '',
    table(['server', 'peak RSS MB', 'RSS at end MB'], Object.entries(report.servers).map(([name, m]) => [name, num(m.peakRssMb, 1), num(m.endRssMb, 1)])),
    ...rssAfterScenarios(report),
    '',
    '## Seed',
    '',
    table(['table', 'status', 'rows', 'note'], [...report.seed.main, ...report.seed.growth.map((n) => ({ ...n, table: `${n.table} (growth db)` }))].map((n) => [n.table, n.status, String(n.rows), n.note])),
  );
  if (report.notes.length) parts.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`));
  return `${parts.join('\n')}\n`;
}

/** RSS after each scenario, one column per server, so a growth between two scenarios shows where it happened */
function rssAfterScenarios(report: BenchReport): string[] {
  if (!report.rssAfterScenarioMb.length) return [];
  const servers = [...new Set(report.rssAfterScenarioMb.flatMap((r) => Object.keys(r.mb)))];
  return ['', 'RSS (MB) after each scenario:', '', table(['after', ...servers], report.rssAfterScenarioMb.map((r) => [r.scenario, ...servers.map((name) => num(r.mb[name] ?? null, 1))]))];
}
