import type Provider from 'oidc-provider';
import { isDatabaseUnavailable } from '../http/error-handler.js';
import type { Renderer } from '../views/renderer.js';

/**
 * SECURITY G.41: when the database cannot be reached, protocol endpoints answer 503 with
 * `temporarily_unavailable` (RFC 6749 §4.1.2.1) and Retry-After, instead of oidc-provider's
 * 500 `server_error` — or, for the authorization endpoint, a redirect that would tell the
 * client the request failed for good. Browsers get a page saying the same, and no cookie
 * change from a request that did not happen.
 */
export const DATABASE_UNAVAILABLE = 'the database is unreachable; try again shortly';
const RETRY_AFTER_SECONDS = '5';

export function answerDatabaseOutages(provider: Provider, renderer: Renderer) {
  const failed = new WeakSet<object>();
  // oidc-provider turns errors into responses itself and reports them through this event
  provider.on('server_error', (ctx: object, err: unknown) => {
    if (ctx && isDatabaseUnavailable(err)) failed.add(ctx);
  });
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      failed.add(ctx);
    }
    if (!failed.has(ctx)) return;
    ctx.status = 503;
    ctx.remove('Location');
    // the browser keeps the cookies it came with, so it can try again (e.g. resume a sign-in)
    ctx.remove('Set-Cookie');
    ctx.set('Retry-After', RETRY_AFTER_SECONDS);
    ctx.set('Cache-Control', 'no-store');
    if (ctx.accepts('json', 'html') === 'html' && ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = renderer.render('pages/error', { title: 'Temporarily unavailable', message: DATABASE_UNAVAILABLE, code: 'temporarily_unavailable' });
    } else {
      ctx.body = { error: 'temporarily_unavailable', error_description: DATABASE_UNAVAILABLE };
    }
  });
}
