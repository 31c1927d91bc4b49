import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { repoRoot } from '../support/cli.js';

/**
 * `npm run bench:stack` runs every variant and prints one row of figures for each. Speed is
 * not tested. It needs no database, so the embedded pass of npm test checks it.
 */
const TIMEOUT_MS = 120_000;
const VARIANTS = ['echo (node:http)', 'Koa + @koa/router', '+ log', '+ metrics', '+ context', '+ headers', '+ errors', '+ all five'];

function runStack(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  return new Promise((resolve) => {
    execFile('npm', ['run', '--silent', 'bench:stack', '--', ...args], { cwd: repoRoot, env, timeout: TIMEOUT_MS }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('npm run bench:stack', function () {
  this.timeout(TIMEOUT_MS + 10_000);

  before(function () {
    if (process.env.DATABASE_URL) {
      console.log('\n  NOTICE: bench:stack uses no database; it is checked in the embedded pass of npm test\n');
      this.skip();
    }
  });

  it('measures each variant and prints its rate, its ratio to the echo and its CPU per request', async () => {
    const run = await runStack(['--rounds', '1', '--window', '0.5', '--warmup', '0.2', '--connections', '2']);
    expect(run.code, run.stderr).to.equal(0);
    const rows = run.stdout.split('\n').filter((line) => /^\| (?!variant|---)/.test(line));
    expect(rows.map((row) => row.split('|')[1]!.trim())).to.deep.equal(VARIANTS);
    for (const row of rows) {
      const [rate, ratio, cpu] = row.split('|').slice(2, 5).map((cell) => Number(cell.trim()));
      expect(rate, row).to.be.greaterThan(0);
      expect(ratio, row).to.be.greaterThan(0);
      expect(cpu, row).to.be.greaterThan(0);
    }
    expect(rows[0]).to.match(/^\| echo \(node:http\) \| \d+ \| 1\.00 \|/);
  });

  it('refuses a window that is not a positive number, naming the option', async () => {
    const run = await runStack(['--window', 'soon']);
    expect(run.code).to.not.equal(0);
    expect(run.stderr).to.include('--window needs a positive number');
  });
});
