import type { Knex } from 'knex';
import { PRUNE_INTERVAL_MAX_S } from '../lib/config/config.js';
import { compare, type Contender, type LoadPlan } from './compare.js';
import { createBenchDatabase, type BenchDatabase } from './database.js';
import { scenarioReport } from './report/evaluate.js';
import type { ScenarioReport } from './report/model.js';
import { growthId, GROWTH_SCENARIOS } from './scenarios/index.js';
import type { TargetRule } from './scenarios/types.js';
import { seedLatch, type SeedSizes, type SeededLatch } from './seed/fixture.js';
import type { SeedNote } from './seed/optional-tables.js';
import { countExpiredRows, insertPayloadRows } from './seed/payload-rows.js';
import { settleDatabase } from './seed/settle.js';
import type { ServerChild } from './servers/child.js';
import { freePort } from './servers/ports.js';
import { issuerFor, latchContender, newSecret, startLatchProcess } from './servers/start.js';

/**
 * Scenario 9: a second Latch on a database of its own, seeded like the first plus a backlog
 * of expired rows; its prune job works through the whole of each of its measured windows
 * (one run after another, each up to 100,000 rows of a kind and paced as deployed, should one
 * end before the window does; the run in progress when the window ends is stopped after its
 * current batch). Its figures are compared with the first Latch (the "empty table"), windows
 * alternating. Before each window the backlog is topped up, so every window starts with the
 * full count.
 *
 * Before every window of either side its database is settled as after seeding (vacuumed,
 * analyzed, checkpointed): the rows the top-up inserts and those the last window deleted are
 * the bench's doing, not the scenario's, and neither their dead rows (which nothing else
 * removes where autovacuum is off, as on the machine these runs are made on) nor the flushing
 * of their dirty pages may fall in the next window. The empty side's database gets the same,
 * so both sides' windows start alike.
 */
export const EMPTY_LABEL = 'empty table';
const GROWTH_LABEL = 'growth';
const GROWTH_TARGETS: TargetRule[] = [
  { metric: 'rps', against: EMPTY_LABEL, atLeast: 0.9 },
  { metric: 'p99', against: EMPTY_LABEL, atMost: 1.1 },
];

export type GrowthSetup = {
  seeded: SeededLatch;
  child: ServerChild;
  seed: SeedNote[];
  expiredRows: number;
  close(): Promise<void>;
};

/** Creates, seeds and starts the growth Latch; run before any measurement. */
export async function prepareGrowth(input: {
  serverUrl: string;
  sizes: SeedSizes;
  expiredRows: number;
  logLevel: string;
  /** --node-flag */
  nodeFlags: string[];
  /** names of the bench's databases, whose PostgreSQL backends count as the bench's */
  benchDatabases: Set<string>;
}): Promise<GrowthSetup> {
  let database: BenchDatabase | undefined;
  let seeded: SeededLatch | undefined;
  let child: ServerChild | undefined;
  const close = async () => {
    await child?.stop();
    await seeded?.close();
    await database?.drop();
  };
  try {
    database = await createBenchDatabase(input.serverUrl, 'growth');
    input.benchDatabases.add(database.name);
    const port = await freePort();
    const secret = newSecret();
    seeded = await seedLatch({ databaseUrl: database.url, issuer: issuerFor(port), secret, sizes: input.sizes, salt: 'growth' });
    const clientIds = [...seeded.fixture.machines, ...seeded.fixture.apps].map((c) => c.clientId);
    const expired = await insertPayloadRows(seeded.container.knex, { count: input.expiredRows, clientIds, accountIds: seeded.fixture.accountIds, expired: true, salt: 'expired-0' });
    await settleDatabase(seeded.container.knex);
    // its prune job runs only when the bench starts it: on its own 5-minute schedule a run would
    // delete 100,000 rows in the middle of other scenarios' windows, or beside a started one
    child = await startLatchProcess({ name: 'latch-growth', databaseUrl: database.url, port, secret, logLevel: input.logLevel, nodeFlags: input.nodeFlags, pruneIntervalS: PRUNE_INTERVAL_MAX_S });
    const seed: SeedNote[] = [
      ...seeded.fixture.notes,
      { table: 'oidc_payloads', status: 'seeded', rows: expired, note: 'expired rows (the backlog), topped up before each window' },
    ];
    return { seeded, child, seed, expiredRows: input.expiredRows, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function runGrowth(setup: GrowthSetup, input: { rounds: number; plan: LoadPlan; emptyLatch: Contender; emptyKnex: Knex; log(line: string): void }): Promise<ScenarioReport[]> {
  const { seeded, child } = setup;
  const knex = seeded.container.knex;
  const expiredAtStart: number[] = [];
  const pruneRuns: number[] = [];
  let pruned = 0;
  let topUps = 0;
  const growth: Contender = {
    ...latchContender(GROWTH_LABEL, child, seeded, input.rounds),
    hooks: {
      async beforeWindow() {
        const present = await countExpiredRows(knex);
        if (present < setup.expiredRows) {
          topUps += 1;
          const clientIds = seeded.fixture.machines.map((c) => c.clientId);
          await insertPayloadRows(knex, { count: setup.expiredRows - present, clientIds, accountIds: seeded.fixture.accountIds, expired: true, salt: `expired-${topUps}` });
        }
        await settleDatabase(knex);
        expiredAtStart.push(await countExpiredRows(knex));
      },
      async atWindowStart() {
        await child.call('prune-start');
      },
      async afterWindow() {
        const run = await child.call<{ deleted: number; runs: number; ms: number }>('prune-finish');
        pruned += run.deleted;
        pruneRuns.push(run.runs);
        input.log(`  ${GROWTH_LABEL.padEnd(12)} prune job: ${run.deleted} rows in ${run.runs} run${run.runs === 1 ? '' : 's'} over ${(run.ms / 1000).toFixed(1)} s from the window's start`);
      },
    },
  };
  const empty: Contender = {
    ...input.emptyLatch,
    target: { ...input.emptyLatch.target, label: EMPTY_LABEL },
    rounds: input.rounds,
    hooks: { beforeWindow: () => settleDatabase(input.emptyKnex) },
  };

  // The growth Latch has served nothing before this point, while the empty one may have run
  // scenarios 1 and 3 whole: both warm up as long as a scenario's whole measurement takes, so
  // that neither is compared while its code is still being compiled.
  const { warmupS, windowS, pacedS } = input.plan;
  const wholeScenarioS = warmupS + input.rounds * windowS + pacedS;
  const reports: ScenarioReport[] = [];
  for (const scenario of GROWTH_SCENARIOS) {
    const id = growthId(scenario);
    input.log(`scenario ${id}: ${scenario.title}, with ${setup.expiredRows} expired rows and the prune job running`);
    expiredAtStart.length = 0;
    pruneRuns.length = 0;
    pruned = 0;
    const comparison = await compare(scenario, [growth, empty], { ...input.plan, paced: false, warmupS: wholeScenarioS }, input.log);
    reports.push(
      scenarioReport({ id, title: `growth: ${scenario.title}`, targets: GROWTH_TARGETS }, comparison, GROWTH_LABEL, {
        growth: { expiredRowsAtStart: [...expiredAtStart], prunedDuringWindows: pruned, pruneRuns: [...pruneRuns] },
      }),
    );
  }
  return reports;
}
