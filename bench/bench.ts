import { compare, type LoadPlan } from './compare.js';
import { createBenchDatabase, DEFAULT_SERVER_URL, describeServer, type BenchDatabase } from './database.js';
import { prepareGrowth, runGrowth, type GrowthSetup } from './growth.js';
import { postgresPidsOf } from './measure/postgres-pids.js';
import type { BenchOptions } from './options.js';
import { scenarioReport } from './report/evaluate.js';
import { commitInfo, machineInfo } from './report/machine.js';
import { STORED_CEILING_LABEL, VERSUS_LABEL, type BenchReport, type ScenarioReport, type TargetResult } from './report/model.js';
import { SCENARIOS } from './scenarios/index.js';
import { isPending } from './scenarios/types.js';
import { seedLatch, type SeededLatch } from './seed/fixture.js';
import type { ServerChild } from './servers/child.js';
import { freePort } from './servers/ports.js';
import { ceilingContender, floorContender, issuerFor, latchContender, newSecret, startCeiling, startFloor, startLatchProcess } from './servers/start.js';
import { seedCeilingTokens } from './servers/ceiling-postgres.js';
import { buildVersus } from './servers/versus.js';

/**
 * One benchmark run: a database of its own, seeded; Latch, the ceiling and the floor each in
 * a process; every scenario in turn; then growth; then the report. Everything it created is
 * stopped and dropped however the run ends.
 */
const RSS_TARGET_MB = 250;
const DATABASE_POOL_MAX = 10;

export async function runBench(options: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const serverUrl = process.env.DATABASE_URL || DEFAULT_SERVER_URL;
  const selected = (id: string) => !options.only || options.only.has(id) || options.only.has(id.replace(/[a-z]$/, ''));
  const plan: LoadPlan = {
    connections: options.connections,
    warmupS: options.warmupS,
    rewarmS: options.rewarmS,
    windowS: options.windowS,
    pacedS: options.pacedS,
    paced: true,
    sizes: { introspectionTokens: options.introspectionTokens, refreshChains: options.refreshChains, devicesPerConnection: options.devicesPerConnection },
    quietWaitS: options.quietWaitS,
    postgresPids: async () => [],
  };
  const cleanup: (() => Promise<unknown>)[] = [];
  const benchDatabases = new Set<string>();
  let database: BenchDatabase | undefined;
  let seeded: SeededLatch | undefined;

  try {
    database = await createBenchDatabase(serverUrl, 'main');
    cleanup.push(() => database!.drop());
    benchDatabases.add(database.name);
    const port = await freePort();
    const secret = newSecret();
    log(`seeding ${database.name} on ${describeServer(serverUrl)}: ${options.sizes.clients} clients, ${options.sizes.liveTokens} live tokens`);
    const growthInput = { serverUrl, sizes: options.sizes, expiredRows: options.expiredRows, logLevel: options.latchLogLevel, nodeFlags: options.nodeFlags, benchDatabases };
    if (selected('9')) log(`seeding the growth database alongside: the same plus ${options.expiredRows} expired rows`);
    const growthSetupPromise = selected('9') ? prepareGrowth(growthInput) : undefined;
    cleanup.push(async () => (await growthSetupPromise?.catch(() => undefined))?.close());
    seeded = await seedLatch({ databaseUrl: database.url, issuer: issuerFor(port), secret, sizes: options.sizes, salt: 'main' });
    cleanup.push(() => seeded!.close());
    // the stored ceiling's database, with as many live tokens as Latch's
    const storedCeilingDatabase = SCENARIOS.some((s) => !isPending(s) && s.storesTokens && selected(s.id)) ? await createBenchDatabase(serverUrl, 'ceilingpg') : undefined;
    if (storedCeilingDatabase) {
      cleanup.push(() => storedCeilingDatabase.drop());
      benchDatabases.add(storedCeilingDatabase.name);
      await seedCeilingTokens(storedCeilingDatabase.url, options.sizes.liveTokens, 3600);
    }
    const growthSetup: GrowthSetup | undefined = await growthSetupPromise;
    plan.postgresPids = postgresPidsOf(seeded.container.knex, () => [...benchDatabases]);
    const machine = await machineInfo(seeded.container.knex);

    const profileDir = `${options.outDir}/profiles-${startedAt.replace(/[:.]/g, '-')}`;
    if (options.versus) log(`building ${options.versus} for --versus`);
    const versusBuild = options.versus ? buildVersus(options.versus) : undefined;
    const flags = (profileAs: string) => [...(options.profile ? ['--cpu-prof', '--cpu-prof-dir', `${profileDir}/${profileAs}`] : []), ...options.nodeFlags];
    const [latch, ceiling, floor, storedCeiling] = await Promise.all([
      startLatchProcess({
        name: 'latch',
        databaseUrl: database.url,
        port,
        secret,
        logLevel: options.latchLogLevel,
        nodeFlags: flags('latch'),
      }),
      startCeiling(seeded, flags('ceiling')),
      startFloor(seeded, options.nodeFlags),
      storedCeilingDatabase
        ? startCeiling(seeded, flags(STORED_CEILING_LABEL), { name: STORED_CEILING_LABEL, databaseUrl: storedCeilingDatabase.url, poolMax: DATABASE_POOL_MAX })
        : undefined,
    ]);
    // the other build: a second instance on the same database, with the same issuer and secret
    const versus = versusBuild
      ? await startLatchProcess({
          name: VERSUS_LABEL,
          serversDir: versusBuild.serversDir,
          databaseUrl: database.url,
          port: await freePort(),
          issuer: issuerFor(port),
          secret,
          logLevel: options.latchLogLevel,
          nodeFlags: options.nodeFlags,
          envOverrides: options.versusEnv,
        })
      : undefined;
    const children: ServerChild[] = [latch, ceiling, floor, ...(storedCeiling ? [storedCeiling] : []), ...(versus ? [versus] : [])];
    cleanup.push(() => Promise.all(children.map((c) => c.stop())));
    log(`servers: latch ${latch.url} (pid ${latch.pid}), ceiling ${ceiling.url} (pid ${ceiling.pid}), floor ${floor.url} (pid ${floor.pid})${storedCeiling ? `, ${STORED_CEILING_LABEL} ${storedCeiling.url} (pid ${storedCeiling.pid})` : ''}${versus ? `, ${options.versus} ${versus.url} (pid ${versus.pid})` : ''}`);

    const latchC = latchContender('latch', latch, seeded, options.rounds);
    const contenders = [
      latchC,
      ceilingContender(ceiling, seeded.fixture, options.rounds),
      floorContender(floor, seeded.fixture, options.floorRounds),
      ...(storedCeiling ? [ceilingContender(storedCeiling, seeded.fixture, options.rounds, STORED_CEILING_LABEL)] : []),
      ...(versus ? [latchContender(VERSUS_LABEL, versus, seeded, options.rounds)] : []),
    ];

    const scenarios: ScenarioReport[] = [];
    // every server by the name the report gives it; the growth run's Latch only where it ran
    const named: Array<[string, ServerChild]> = [['latch', latch], ['ceiling', ceiling], ['floor', floor], ...(storedCeiling ? [[STORED_CEILING_LABEL, storedCeiling] as [string, ServerChild]] : []), ...(versus ? [[`latch at ${options.versus}`, versus] as [string, ServerChild]] : [])];
    const withGrowth: Array<[string, ServerChild]> = [...named, ...(growthSetup ? [['latch (growth)', growthSetup.child] as [string, ServerChild]] : [])];
    const rssAfterScenarioMb: BenchReport['rssAfterScenarioMb'] = [];
    const noteRss = (scenario: string, servers: Array<[string, ServerChild]>) => {
      const mb = Object.fromEntries(servers.map(([name, child]) => [name, round1(child.rssMb())]));
      rssAfterScenarioMb.push({ scenario, mb });
      log(`  RSS after ${scenario}: ${Object.entries(mb).map(([name, v]) => `${name} ${v ?? '?'} MB`).join(', ')}`);
    };
    for (const entry of SCENARIOS) {
      if (!selected(entry.id)) continue;
      if (isPending(entry)) {
        scenarios.push({ id: entry.id, title: entry.title, status: 'not-yet-available', ...entry.pending });
        log(`scenario ${entry.id}: not yet available (${entry.pending.reason})`);
        continue;
      }
      log(`scenario ${entry.id}: ${entry.title}`);
      // the stored ceiling only where tokens are read or written: elsewhere it is the ceiling again
      const running = contenders.filter((c) => c.target.label !== STORED_CEILING_LABEL || entry.storesTokens);
      const comparison = await compare(entry, running, { ...plan, paced: entry.pacedAt70 }, log);
      scenarios.push(scenarioReport(entry, comparison, 'latch'));
      noteRss(entry.id, named);
    }

    if (growthSetup) {
      scenarios.push(...(await runGrowth(growthSetup, { rounds: options.rounds, plan, emptyLatch: latchC, emptyKnex: seeded.container.knex, log })));
      noteRss('9', withGrowth);
    }

    const servers: BenchReport['servers'] = Object.fromEntries(withGrowth.map(([name, child]) => [name, { peakRssMb: round1(child.peakRssMb()), endRssMb: round1(child.rssMb()) }]));
    const endRss = servers.latch!.endRssMb;
    const rssTarget: TargetResult = {
      scenario: 'all',
      description: 'Latch RSS at the end of the run',
      required: `≤ ${RSS_TARGET_MB} MB`,
      actual: endRss === null ? 'not measured' : `${endRss} MB (peak ${servers.latch!.peakRssMb} MB)`,
      met: endRss === null ? null : endRss <= RSS_TARGET_MB,
    };

    return {
      version: 1,
      mode: options.mode,
      startedAt,
      finishedAt: new Date().toISOString(),
      commit: commitInfo(),
      machine,
      settings: {
        connections: options.connections,
        warmupS: options.warmupS,
        rewarmS: options.rewarmS,
        windowS: options.windowS,
        rounds: options.rounds,
        floorRounds: options.floorRounds,
        pacedS: options.pacedS,
        latchLogLevel: options.latchLogLevel,
        databasePoolMax: DATABASE_POOL_MAX,
        databaseServer: describeServer(serverUrl),
        quietWaitS: options.quietWaitS,
        ...(versusBuild ? { versus: { ref: versusBuild.ref, sha: versusBuild.sha } } : {}),
      },
      seed: { main: seeded.fixture.notes, growth: growthSetup?.seed ?? [], expiredRows: options.expiredRows },
      servers,
      rssAfterScenarioMb,
      scenarios,
      targets: [...scenarios.flatMap((s) => (s.status === 'measured' ? s.targets : [])), rssTarget],
      notes: [
        'The load generator runs on the same machine as the servers and PostgreSQL; every figure is from one run.',
        'The ceiling is stock oidc-provider with its in-memory adapter (an LRU of 1,000 entries per generation), so it never waits on storage.',
        ...(storedCeiling
          ? [`The stored ceiling (${STORED_CEILING_LABEL}) is the same stock oidc-provider keeping its models in PostgreSQL, one prepared statement per adapter call through pg (bench/servers/ceiling-postgres.ts), beside ${options.sizes.liveTokens.toLocaleString('en')} live tokens; it runs the scenarios that read or write tokens.`]
          : []),
        ...(options.profile ? [`CPU profiles of the Latch and ceiling processes: ${[`${profileDir}/latch`, `${profileDir}/ceiling`, ...(storedCeiling ? [`${profileDir}/${STORED_CEILING_LABEL}`] : [])].join(', ')}`] : []),
      ],
    };
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
  }
}

const round1 = (v: number) => (Number.isFinite(v) ? Math.round(v * 10) / 10 : null);
