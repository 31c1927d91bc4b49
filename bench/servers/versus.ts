import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The servers of another commit, compiled, for `npm run bench -- --versus REF`: Latch as that
 * commit had it runs beside this one, on the same database and the same load, so a change is
 * measured against what it changed in one run, with the machine's drift falling on both.
 *
 * The commit's sources (`git archive`) are compiled with its own tsconfig into a directory
 * under dist/, so the compiled code finds this checkout's node_modules: the commit must use
 * the same dependencies, and the same migrations (it runs with LATCH_AUTO_MIGRATE=false on
 * the database this checkout migrated).
 */
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCES = ['lib', 'adapters', 'migrations', 'bench', 'tsconfig.json', 'tsconfig.server.json', 'tsconfig.bench.json'];

export type VersusBuild = { ref: string; sha: string; serversDir: string };

export function buildVersus(ref: string): VersusBuild {
  const git = (args: string[]) => execFileSync('git', args, { cwd: projectRoot, maxBuffer: 256 * 2 ** 20 });
  let sha: string;
  try {
    sha = git(['rev-parse', '--verify', `${ref}^{commit}`]).toString().trim();
  } catch {
    throw new Error(`--versus: ${ref} is not a commit of this repository`);
  }
  const root = path.join(projectRoot, 'dist', 'bench', `versus-${process.pid}`);
  const src = path.join(root, 'src');
  const out = path.join(root, 'out');
  process.once('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(src, { recursive: true });
  execFileSync('tar', ['-x', '-C', src], { input: git(['archive', '--format=tar', sha, ...SOURCES]) });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(src, 'tsconfig.bench.json'), '--outDir', out], { cwd: src, stdio: ['ignore', 'inherit', 'inherit'] });
  return { ref, sha, serversDir: path.join(out, 'bench', 'servers') };
}
