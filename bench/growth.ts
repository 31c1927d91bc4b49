import { compare, type Contender, type LoadPlan } from './compare.js';
import { createBenchDatabase, type BenchDatabase } from './database.js';
import { scenarioReport } from './report/evaluate.js';
import type { ScenarioReport } from './report/model.js';
import { growthId, GROWTH_SCENARIOS } from './scenarios/index.js';
import type { TargetRule } from './scenarios/types.js';
import { seedLatch, type SeedSizes, type SeededLatch } from './seed/fixture.js';
import type { SeedNote } from './seed/optional-tables.js';
import { countExpiredRows, insertPayloadRows } from './seed/payload-rows.js';
import type { ServerChild } from './servers/child.js';
import { freePort } from './servers/ports.js';
import { issuerFor, latchContender, newSecret, startLatchProcess } from './servers/start.js';

/**
 * Scenario 9: a second Latch on a database of its own, seeded like the first plus a backlog
 * of expired rows, with the prune job running through each of its measured windows. Its
 * figures are compared with the first Latch (the "empty table"), windows alternating. Before
 * each window the backlog is topped up, so every window starts with the full count.
 */
export const EMPTY_LABEL = 'empty table';
const GROWTH_LABEL = 'growth';
const GROWTH_TARGETS: TargetRule[] = [
  { metric: 'rps', against: EMPTY_LABEL, atLeast: 0.9 },
  { metric: 'p99', against: EMPTY_LABEL, atMost: 1.1 },
];

export type GrowthInput = {
  serverUrl: string;
  sizes: SeedSizes;
  expiredRows: number;
  rounds: number;
  logLevel: string;
  plan: LoadPlan;
  emptyLatch: Contender;
  log(line: string): void;
};

export type GrowthOutcome = { reports: ScenarioReport[]; seed: SeedNote[]; peakRssMb: number; endRssMb: number };

export async function runGrowth(input: GrowthInput): Promise<GrowthOutcome> {
  let database: BenchDatabase | undefined;
  let seeded: SeededLatch | undefined;
  let child: ServerChild | undefined;
  try {
    database = await createBenchDatabase(input.serverUrl, 'growth');
    const port = await freePort();
    const secret = newSecret();
    input.log(`growth: seeding ${input.sizes.clients} clients, ${input.sizes.liveTokens} live tokens and ${input.expiredRows} expired rows`);
    seeded = await seedLatch({ databaseUrl: database.url, issuer: issuerFor(port), secret, sizes: input.sizes, salt: 'growth' });
    const knex = seeded.container.knex;
    const expired = await insertPayloadRows(knex, { count: input.expiredRows, clientIds: [...seeded.fixture.machines, ...seeded.fixture.apps].map((c) => c.clientId), accountIds: seeded.fixture.accountIds, expired: true, salt: 'expired-0' });
    await knex.raw('ANALYZE oidc_payloads');
    const seed: SeedNote[] = [...seeded.fixture.notes, { table: 'oidc_payloads', status: 'seeded', rows: expired, note: 'expired rows (the backlog), topped up before each window' }];

    child = await startLatchProcess({ name: 'latch-growth', databaseUrl: database.url, port, secret, logLevel: input.logLevel });
    const growthChild = child;
    const expiredAtStart: number[] = [];
    let pruned = 0;
    let topUps = 0;
    const growth: Contender = {
      ...latchContender(GROWTH_LABEL, growthChild, seeded, input.rounds),
      hooks: {
        async beforeWindow() {
          const present = await countExpiredRows(knex);
          if (present < input.expiredRows) {
            topUps += 1;
            await insertPayloadRows(knex, { count: input.expiredRows - present, clientIds: seeded!.fixture.machines.map((c) => c.clientId), accountIds: seeded!.fixture.accountIds, expired: true, salt: `expired-${topUps}` });
          }
          expiredAtStart.push(await countExpiredRows(knex));
          await growthChild.call('prune-start');
        },
        async afterWindow() {
          pruned += (await growthChild.call<{ deleted: number }>('prune-stop')).deleted;
        },
      },
    };
    const empty: Contender = { ...input.emptyLatch, target: { ...input.emptyLatch.target, label: EMPTY_LABEL }, rounds: input.rounds };

    const reports: ScenarioReport[] = [];
    for (const scenario of GROWTH_SCENARIOS) {
      const id = growthId(scenario);
      input.log(`scenario ${id}: ${scenario.title}, with the backlog`);
      expiredAtStart.length = 0;
      pruned = 0;
      const comparison = await compare(scenario, [growth, empty], { ...input.plan, paced: false }, input.log);
      reports.push(
        scenarioReport({ id, title: `growth: ${scenario.title}`, targets: GROWTH_TARGETS }, comparison, GROWTH_LABEL, {
          growth: { expiredRowsAtStart: [...expiredAtStart], prunedDuringWindows: pruned },
        }),
      );
    }
    return { reports, seed, peakRssMb: growthChild.peakRssMb(), endRssMb: growthChild.rssMb() };
  } finally {
    await child?.stop();
    await seeded?.close();
    await database?.drop();
  }
}
