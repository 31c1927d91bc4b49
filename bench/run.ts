import { runBench } from './bench.js';
import { parseOptions } from './options.js';
import { writeReport } from './report/write.js';

/** `npm run bench [-- --smoke]`: runs the benchmark, writes the report, prints the table. */
let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

const started = performance.now();
const log = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
try {
  const report = await runBench(options, log);
  const { jsonPath, mdPath, markdown } = writeReport(report, options.outDir);
  process.stdout.write(markdown);
  log(`report: ${jsonPath}\n        ${mdPath}`);
  process.exit(0);
} catch (err) {
  log(`bench failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
