import Router from '@koa/router';
import type { Knex } from 'knex';

const READY_TIMEOUT_MS = 2000;

/** /healthz: the process is alive. /readyz: it can reach its database. /metrics: Prometheus text. */
export function healthRoutes(deps: { knex: Knex; metrics: { render(): Promise<{ type: string; body: string }> } }) {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    const { type, body } = await deps.metrics.render();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = type;
    ctx.body = body;
  });
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await Promise.race([
        deps.knex.raw('select 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS).unref()),
      ]);
      ctx.body = { status: 'ready', database: 'ok' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', database: 'unreachable' };
    }
  });
  return router;
}
