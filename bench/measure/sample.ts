/** What one measured window of load produced, before any server-side figures are added. */
export type LoadSample = {
  durationS: number;
  /** responses received, any status */
  responses: number;
  ok: number;
  non2xx: number;
  statusCounts: Record<string, number>;
  /** connection errors and timeouts (no response at all) */
  errors: number;
  timeouts: number;
  /** latency of each 2xx response, ms */
  latenciesMs: number[];
  /** open loop: the longest the generator's own event loop was held up, ms */
  generatorDelayMaxMs?: number;
  /** flow scenarios: named counts (requests of a kind), and the first failure's message */
  counters?: Record<string, number>;
  firstError?: string;
};

export function emptySample(): LoadSample {
  return { durationS: 0, responses: 0, ok: 0, non2xx: 0, statusCounts: {}, errors: 0, timeouts: 0, latenciesMs: [] };
}

export function recordResponse(sample: LoadSample, status: number, latencyMs: number) {
  sample.responses += 1;
  sample.statusCounts[status] = (sample.statusCounts[status] ?? 0) + 1;
  if (status >= 200 && status < 300) {
    sample.ok += 1;
    sample.latenciesMs.push(latencyMs);
  } else {
    sample.non2xx += 1;
  }
}

export function mergeSamples(samples: LoadSample[]): LoadSample {
  const merged = emptySample();
  for (const s of samples) {
    merged.durationS += s.durationS;
    merged.responses += s.responses;
    merged.ok += s.ok;
    merged.non2xx += s.non2xx;
    merged.errors += s.errors;
    merged.timeouts += s.timeouts;
    for (const [status, n] of Object.entries(s.statusCounts)) merged.statusCounts[status] = (merged.statusCounts[status] ?? 0) + n;
    for (const v of s.latenciesMs) merged.latenciesMs.push(v);
    for (const [name, n] of Object.entries(s.counters ?? {})) merged.counters = { ...merged.counters, [name]: (merged.counters?.[name] ?? 0) + n };
    merged.firstError ??= s.firstError;
  }
  return merged;
}

export function percentile(sortedMs: number[], p: number): number | null {
  if (!sortedMs.length) return null;
  const rank = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[rank]!;
}
