import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SeedSizes } from './seed/fixture.js';

/** Command-line options of `npm run bench`, and the two presets: full and --smoke. */
export type BenchOptions = {
  mode: 'full' | 'smoke';
  connections: number;
  warmupS: number;
  /** seconds of unmeasured load right before each measured window */
  rewarmS: number;
  windowS: number;
  rounds: number;
  floorRounds: number;
  pacedS: number;
  sizes: SeedSizes;
  expiredRows: number;
  introspectionTokens: number;
  refreshChains: number;
  /** scenario 7: devices in flight per connection */
  devicesPerConnection: number;
  outDir: string;
  profile: boolean;
  latchLogLevel: string;
  quietWaitS: number;
  only?: Set<string>;
  /** a commit whose Latch runs beside this one (same database, same load, alternating windows) */
  versus?: string;
  /** the --versus instance's environment on top of Latch's: a value sets, undefined removes */
  versusEnv: Record<string, string | undefined>;
  /** added to every server's node flags (e.g. --perf-basic-prof, for `perf record`) */
  nodeFlags: string[];
};

const benchDir = path.dirname(fileURLToPath(import.meta.url));

export const USAGE = `npm run bench [-- options]
  --smoke              a few seconds per scenario, small seed (used by npm test)
  --out-dir DIR        where to write <timestamp>.json and .md (default bench/results)
  --only 1,3b,9        run only these scenarios (9 = growth)
  --connections N      keep-alive connections per load run (default 10)
  --window S           seconds per measured window
  --warmup S           seconds of load before a scenario's measured windows (default 3; --smoke 0)
  --rewarm S           seconds of unmeasured load right before each measured window, so that no
                       server is measured straight out of idle (default 1; --smoke 0)
  --rounds N           measured windows per server, alternating (default 2; --smoke 1)
  --versus REF         also run Latch as commit REF had it, beside this one on the same database,
                       and report this one ÷ that one (REF must have the same dependencies
                       and migrations)
  --versus-env N=V     the --versus instance also gets N=V in its environment; N= takes N
                       out (e.g. MALLOC_MMAP_THRESHOLD_= measures glibc's default allocator
                       beside the deployed setting, with --versus HEAD); may be repeated
  --node-flag F        add F to every server's node flags (e.g. --perf-basic-prof, so that
                       \`perf record -p PID\` names the JavaScript functions); may be repeated
  --profile            run Latch and the ceiling with --cpu-prof (profiles next to the report)
  --latch-log-level L  Latch's LOG_LEVEL (default info, as deployed)
  --quiet-wait S       before each window, wait up to S seconds for other processes on the
                       machine to use under 0.25 cores (default 0: measure regardless)`;

export function parseOptions(argv: string[]): BenchOptions {
  const smoke = argv.includes('--smoke');
  const options: BenchOptions = smoke
    ? {
        mode: 'smoke',
        connections: 4,
        warmupS: 0,
        rewarmS: 0,
        windowS: 0.5,
        rounds: 1,
        floorRounds: 1,
        pacedS: 0.5,
        sizes: { clients: 20, liveTokens: 1_000, accounts: 20, apiKeys: 100 },
        expiredRows: 10_000,
        introspectionTokens: 20,
        refreshChains: 16,
        devicesPerConnection: 1,
        outDir: path.join(benchDir, 'results'),
        profile: false,
        latchLogLevel: 'info',
        quietWaitS: 0,
        versusEnv: {},
        nodeFlags: [],
      }
    : {
        mode: 'full',
        connections: 10,
        warmupS: 3,
        rewarmS: 1,
        windowS: 8,
        rounds: 2,
        floorRounds: 1,
        pacedS: 8,
        sizes: { clients: 1_000, liveTokens: 100_000, accounts: 1_000, apiKeys: 10_000 },
        expiredRows: 1_000_000,
        introspectionTokens: 500,
        refreshChains: 200,
        devicesPerConnection: 4,
        outDir: path.join(benchDir, 'results'),
        profile: false,
        latchLogLevel: 'info',
        quietWaitS: 0,
        versusEnv: {},
        nodeFlags: [],
      };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--smoke') continue;
    else if (arg === '--out-dir') options.outDir = path.resolve(value());
    else if (arg === '--only') options.only = new Set(value().split(','));
    else if (arg === '--connections') options.connections = Number(value());
    else if (arg === '--window') options.windowS = Number(value());
    else if (arg === '--rounds') options.rounds = Number(value());
    else if (arg === '--warmup') options.warmupS = Number(value());
    else if (arg === '--rewarm') options.rewarmS = Number(value());
    else if (arg === '--versus') options.versus = value();
    else if (arg === '--versus-env') {
      const setting = value();
      const eq = setting.indexOf('=');
      if (eq < 1) throw new Error(`--versus-env takes NAME=VALUE (NAME= to take NAME out), not ${setting}\n${USAGE}`);
      options.versusEnv[setting.slice(0, eq)] = setting.slice(eq + 1) || undefined;
    } else if (arg === '--node-flag') options.nodeFlags.push(value());
    else if (arg === '--profile') options.profile = true;
    else if (arg === '--latch-log-level') options.latchLogLevel = value();
    else if (arg === '--quiet-wait') options.quietWaitS = Number(value());
    else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  if (!(options.connections >= 1) || !(options.windowS > 0) || !Number.isInteger(options.rounds) || options.rounds < 1 || !(options.warmupS >= 0) || !(options.rewarmS >= 0)) {
    throw new Error(`--connections, --window and --rounds must be positive, --warmup and --rewarm at least 0\n${USAGE}`);
  }
  if (Object.keys(options.versusEnv).length && !options.versus) throw new Error(`--versus-env needs --versus\n${USAGE}`);
  return options;
}
