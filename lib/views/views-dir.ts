import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The views/ directory of the checkout: found from this module upwards, at the directory that
 * holds package.json, so it is the same whether Latch runs from its TypeScript sources (tsx)
 * or from the compiled JavaScript in dist/ (`npm start`, the Docker image, the bench).
 */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const VIEWS_DIR = path.join(projectRoot(), 'views');
