import type { Comparison } from '../compare.js';
import type { TargetRule } from '../scenarios/types.js';
import type { ContenderResult, Measurement, Ratios, ScenarioReport, TargetResult } from './model.js';

/** Latch's figures as ratios to each baseline, and each target of the issue met or missed. */
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : Math.round((a / b) * 1000) / 1000);

export function ratiosBetween(latch: Measurement, base: Measurement): Ratios {
  return {
    rps: ratio(latch.rps, base.rps),
    p50: ratio(latch.latencyMs.p50, base.latencyMs.p50),
    p99: ratio(latch.latencyMs.p99, base.latencyMs.p99),
    cpuPer1k: ratio(latch.cpuSecondsPer1k, base.cpuSecondsPer1k),
    peakRss: ratio(latch.peakRssMb, base.peakRssMb),
  };
}

const measured = (result: ContenderResult | undefined) => (result?.status === 'measured' ? result.measurement : undefined);

function evaluate(
  id: string,
  rule: TargetRule,
  latch: Measurement | undefined,
  latchResult: ContenderResult,
  baselines: Record<string, ContenderResult>,
  comparison: Comparison,
): TargetResult {
  if (rule.metric === 'p99At70') {
    const paced = comparison.paced && 'latencyMs' in comparison.paced ? comparison.paced : undefined;
    const p99 = paced?.latencyMs.p99 ?? null;
    return {
      scenario: id,
      description: 'Latch p99 at 70 % of its max rate',
      required: `≤ ${rule.atMostMs} ms`,
      actual:
        p99 === null
          ? 'not measured'
          : `${p99} ms at ${paced!.achievedRps} req/s${paced!.ceilingOwn ? ` (the ceiling at 70 % of its own maximum: ${paced!.ceilingOwn.latencyMs.p99} ms at ${paced!.ceilingOwn.targetRps} req/s)` : ''}`,
      met: p99 === null ? null : p99 <= rule.atMostMs,
    };
  }
  if (rule.metric === 'writesPerFlow') {
    const one = latchResult?.status === 'measured' ? latchResult.flowWrites : undefined;
    const ceiling = baselines.ceiling?.status === 'measured' ? baselines.ceiling.flowWrites : undefined;
    const kinds = one ? Object.entries(one.byKind).map(([kind, n]) => (n > 1 ? `${n} × ${kind}` : kind)).join(', ') : '';
    return {
      scenario: id,
      description: 'database writes of one flow (query log)',
      required: `≤ ${rule.atMost}`,
      actual: one ? `${one.total}: ${kinds}${ceiling ? ` (ceiling's in-memory adapter: ${ceiling.total})` : ''}` : 'not measured',
      met: one ? one.total <= rule.atMost : null,
    };
  }
  const base = measured(baselines[rule.against]);
  if (rule.metric === 'rps') {
    const value = latch && base ? ratio(latch.rps, base.rps) : null;
    return {
      scenario: id,
      description: rule.label ?? `Latch req/s ÷ ${rule.against}`,
      required: `≥ ${rule.atLeast}`,
      actual: value === null ? 'not measured' : `${value.toFixed(2)} (${latch!.rps} vs ${base!.rps})`,
      met: value === null ? null : value >= rule.atLeast,
    };
  }
  const value = latch && base ? ratio(latch.latencyMs.p99, base.latencyMs.p99) : null;
  return {
    scenario: id,
    description: `Latch p99 ÷ ${rule.against}`,
    required: `≤ ${rule.atMost}`,
    actual: value === null ? 'not measured' : `${value.toFixed(2)} (${latch!.latencyMs.p99} vs ${base!.latencyMs.p99} ms)`,
    met: value === null ? null : value <= rule.atMost,
  };
}

export function scenarioReport(
  meta: { id: string; title: string; targets: TargetRule[]; unit?: string },
  comparison: Comparison,
  latchLabel: string,
  extra: Pick<Extract<ScenarioReport, { status: 'measured' }>, 'growth'> = {},
): ScenarioReport {
  const latch = comparison.results.get(latchLabel)!;
  const baselines = Object.fromEntries([...comparison.results].filter(([label]) => label !== latchLabel));
  const latchMeasurement = measured(latch);
  const ratios: Record<string, Ratios> = {};
  for (const [label, result] of Object.entries(baselines)) {
    const base = measured(result);
    if (latchMeasurement && base) ratios[label] = ratiosBetween(latchMeasurement, base);
  }
  return {
    id: meta.id,
    title: meta.title,
    status: 'measured',
    ...(meta.unit ? { unit: meta.unit } : {}),
    latch,
    baselines,
    ratios,
    ...(comparison.paced ? { pacedAt70: comparison.paced } : {}),
    ...extra,
    targets: meta.targets.map((rule) => evaluate(meta.id, rule, latchMeasurement, latch, baselines, comparison)),
  };
}
