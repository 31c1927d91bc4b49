import { formatReport, parseSoakArgs, runSoak, USAGE } from './soak.js';

/** `npm run soak [-- --duration 10m]`: prints the report; exits 1 when a target is missed. */
const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log(USAGE);
  process.exit(0);
}
let options;
try {
  options = parseSoakArgs(argv);
} catch (err) {
  console.error(`soak: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
const started = Date.now();
const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}\n`);
try {
  const report = await runSoak(options, log);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  process.exit(Object.values(report.pass).every(Boolean) ? 0 : 1);
} catch (err) {
  log(`soak failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
