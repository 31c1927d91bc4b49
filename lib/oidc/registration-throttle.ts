import type Koa from 'koa';
import type Provider from 'oidc-provider';
import { onlyOn } from '../http/only-on.js';
import { Throttled, type ThrottleService } from '../throttling/throttle.service.js';

/**
 * A per-IP limit on dynamic client registration (SECURITY.md C.19), counted in the database so
 * every instance shares it. Each client registered counts; past the limit the registration
 * endpoint answers 429 with Retry-After and an OAuth error body until the window passes.
 * Refused registrations store nothing and do not count.
 */
export function limitRegistration(provider: Provider, throttle: ThrottleService) {
  let path: string | undefined;
  try {
    path = provider.pathFor('registration');
  } catch {
    return; // LATCH_REGISTRATION=closed: there is no registration endpoint to limit
  }
  provider.use(onlyOn({ method: 'POST', paths: [path] }, async (ctx: Koa.Context, next: Koa.Next) => {
    try {
      await throttle.checkRegistration(ctx.ip);
    } catch (err) {
      if (!(err instanceof Throttled)) throw err;
      ctx.status = 429;
      ctx.set('Retry-After', String(err.retryAfterSeconds));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        error: 'temporarily_unavailable',
        error_description: `too many clients were registered from this address; try again in ${err.retryAfterSeconds} seconds`,
      };
      return;
    }
    await next();
    if (ctx.status === 201) await throttle.recordRegistration(ctx.ip);
  }));
}
