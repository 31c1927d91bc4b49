import fs from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { VIEWS_DIR } from '../views/views-dir.js';

const assetsDir = path.join(VIEWS_DIR, 'assets');
const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/** The few static files the hosted pages use, read once at start; no directory is served. */
export function assetRoutes() {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of fs.readdirSync(assetsDir)) {
    const type = TYPES[path.extname(name)];
    if (type) files.set(name, { body: fs.readFileSync(path.join(assetsDir, name)), type });
  }
  const router = new Router();
  router.get('/assets/:name', (ctx) => {
    const file = files.get(ctx.params.name!);
    if (!file) return;
    ctx.type = file.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file.body;
  });
  return router;
}
