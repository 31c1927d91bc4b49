import type { SeedNote } from '../seed/optional-tables.js';

/** The label of the other build's Latch (--versus) among a scenario's baselines and ratios. */
export const VERSUS_LABEL = 'versus';
/** The label of the stored ceiling (stock oidc-provider keeping its models in PostgreSQL). */
export const STORED_CEILING_LABEL = 'ceiling-pg';

/** The JSON report: everything measured in one run, and what it means against the targets. */
export type Latency = { p50: number | null; p90: number | null; p99: number | null; max: number | null };

export type Measurement = {
  /** 2xx responses per second over the measured windows */
  rps: number;
  responses: number;
  durationS: number;
  latencyMs: Latency;
  errors: { non2xx: number; socket: number; timeouts: number; statusCounts: Record<string, number> };
  /** CPU of the server process, and of every PostgreSQL process, per 1,000 responses */
  cpuSecondsPer1k: number | null;
  dbCpuSecondsPer1k: number | null;
  /** of cpuSecondsPer1k, the server's main thread's (event loop and JavaScript; the rest is V8's and libuv's helper threads) */
  mainThreadCpuSecondsPer1k: number | null;
  /** the garbage collector's pauses of the main thread per 1,000 responses: ms, and how many minor and major collections */
  gcPer1k: { pauseMs: number; minor: number; major: number } | null;
  /** VmHWM of the server process after its last window */
  peakRssMb: number | null;
  /** average CPU cores used by other processes on the machine during the windows (noise) */
  otherCores: number;
  /** flow scenarios: writes counted over the windows (perUnit: per completed flow), named counters, the first failure */
  writes?: { total: number; perUnit: number | null; byKind: Record<string, number> };
  counters?: Record<string, number>;
  firstError?: string;
  rounds: { rps: number; p50: number | null; p99: number | null }[];
};

export type PacedMeasurement = {
  targetRps: number;
  achievedRps: number;
  latencyMs: Latency;
  errors: { non2xx: number; socket: number; timeouts: number; statusCounts: Record<string, number> };
  /** the ceiling driven the same way at the same rate (not at 70 % of its own): what the machine and load generator alone give at that rate */
  ceilingLatencyMs?: Latency;
  /** the ceiling at 70 % of its own maximum rate: whether stock oidc-provider meets the target on this machine */
  ceilingOwn?: { targetRps: number; latencyMs: Latency };
  /** the longest the load generator's own event loop was held up during Latch's paced window, ms: a stall of its own counts as server latency */
  generatorDelayMaxMs: number;
};

export type ContenderResult =
  | { status: 'measured'; label: string; measurement: Measurement; floorKind?: string; flowWrites?: { total: number; byKind: Record<string, number> } }
  | { status: 'unavailable'; label: string; reason: string };

export type Ratios = {
  rps: number | null;
  p50: number | null;
  p99: number | null;
  cpuPer1k: number | null;
  peakRss: number | null;
};

export type TargetResult = { scenario: string; description: string; required: string; actual: string; met: boolean | null };

export type ScenarioReport =
  | {
      id: string;
      title: string;
      status: 'measured';
      /** what rps counts when it is not requests */
      unit?: string;
      latch: ContenderResult;
      baselines: Record<string, ContenderResult>;
      /** Latch ÷ baseline, per baseline (ceiling, floor, or the empty-table run for growth) */
      ratios: Record<string, Ratios>;
      pacedAt70?: PacedMeasurement | { unavailable: string };
      /** pruneRuns: how many runs of the prune job each window saw start (the last may end after it) */
      growth?: { expiredRowsAtStart: number[]; prunedDuringWindows: number; pruneRuns: number[] };
      targets: TargetResult[];
    }
  | { id: string; title: string; status: 'not-yet-available'; reason: string; needs: string[]; addAs: string };

export type BenchReport = {
  version: 1;
  mode: 'smoke' | 'full';
  startedAt: string;
  finishedAt: string;
  commit: { sha: string; dirty: boolean };
  machine: { cpus: number; cpuModel: string; memoryMb: number; node: string; postgres: string; oidcProvider: string };
  settings: {
    connections: number;
    warmupS: number;
    rewarmS: number;
    windowS: number;
    rounds: number;
    floorRounds: number;
    pacedS: number;
    latchLogLevel: string;
    databasePoolMax: number;
    databaseServer: string;
    quietWaitS: number;
    /** --versus: the other build's ref and commit; its results and ratios are labelled 'versus' */
    versus?: { ref: string; sha: string };
  };
  seed: { main: SeedNote[]; growth: SeedNote[]; expiredRows: number };
  servers: Record<string, { peakRssMb: number | null; endRssMb: number | null }>;
  /** each server's RSS right after each scenario (and the growth runs), in the order they ran */
  rssAfterScenarioMb: Array<{ scenario: string; mb: Record<string, number | null> }>;
  scenarios: ScenarioReport[];
  targets: TargetResult[];
  notes: string[];
};
