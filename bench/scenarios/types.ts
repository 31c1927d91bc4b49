import type { Fixture } from '../seed/fixture.js';

/**
 * One HTTP request a scenario sends; the load generators build the bytes. `tag` travels with
 * the request and comes back with its response.
 */
export type RequestSpec = { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string; tag?: unknown };

/** Where a scenario's requests come from; onResponse lets a scenario chain requests (rotation). */
export type RequestSource = { next(): RequestSpec; onResponse?(status: number, body: string, tag: unknown): void };

export type ServerRole = 'latch' | 'ceiling' | 'floor';

/** A server as a scenario sees it: where it is, the data seeded for it, what it can mint. */
export type Target = {
  role: ServerRole;
  label: string;
  url: string;
  fixture: Fixture;
  mintRefreshTokens(count: number): Promise<string[]>;
};

/** A prepared stream, and how to tell that one response is right (the pre-flight check). */
/** How much a scenario prepares: opaque tokens to introspect, refresh-token chains to rotate. */
export type PrepareSizes = { introspectionTokens: number; refreshChains: number; devicesPerConnection: number };

/**
 * One whole flow of several requests (a browser signing in, a device being approved), run
 * by one virtual user against a server's base URL; resolves when it completed, throws when
 * it failed. `count` adds to named counters (requests of a kind, say) reported beside it.
 */
export type FlowRun = (url: string, count: (name: string, n?: number) => void) => Promise<void>;

export type Prepared =
  | { source: RequestSource; check(status: number, body: string): string | undefined }
  | {
      flow: FlowRun;
      /** the flow whose writes are counted, run alone after the pre-flight one (default: `flow`) */
      probe?: FlowRun;
      /** virtual users per connection of the plan (devices waiting are cheap) */
      usersPerConnection?: number;
    }
  | { unavailable: string };

/** What the floor server does for a scenario: sign an ES256 JWT, verify an argon2id hash, or a plain JSON echo. */
export type FloorKind = 'jwt' | 'argon2' | 'echo';

/** A target of the issue: a ratio of Latch to a baseline (by label), or an absolute p99. */
export type TargetRule =
  | { metric: 'rps'; against: string; atLeast: number; label?: string }
  /** database writes of one flow, run alone and counted from the query log */
  | { metric: 'writesPerFlow'; atMost: number }
  | { metric: 'p99'; against: string; atMost: number }
  | { metric: 'p99At70'; atMostMs: number };

export type Scenario = {
  /** stable id in the report: the scenario number, a letter for variants */
  id: string;
  title: string;
  floor: FloorKind;
  /** measure p99 at 70 % of Latch's maximum rate (issue target for scenarios 1–5) */
  pacedAt70: boolean;
  /** what one unit of rps is, when it is not a request (a flow) */
  unit?: string;
  /** count database writes (Latch's query log, the ceiling adapter's calls) per window and for one flow alone */
  countWrites?: boolean;
  /** the scenario reads or writes tokens: the stored ceiling (oidc-provider on PostgreSQL) runs it too */
  storesTokens?: boolean;
  targets: TargetRule[];
  /** Builds the request stream for a Latch or ceiling target (the floor needs none). */
  prepare(target: Target, sizes: PrepareSizes): Promise<Prepared>;
};

/** A scenario the issue asks for whose feature Latch does not have yet: reported, not faked. */
export type PendingScenario = {
  id: string;
  title: string;
  pending: { reason: string; needs: string[]; addAs: string };
};

export type ScenarioEntry = Scenario | PendingScenario;

export const isPending = (entry: ScenarioEntry): entry is PendingScenario => 'pending' in entry;
