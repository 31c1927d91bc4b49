import type Provider from 'oidc-provider';
import { Throttled, type ThrottleService } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';

/**
 * RFC 8628 §5.1: user codes are short, so guessing them is rate-limited — per client IP and
 * per browser session, shared by every instance. Each refused code counts; past the limit the
 * entry page answers 429 with Retry-After until the window passes.
 */
export function limitDeviceCodeEntry(provider: Provider, throttle: ThrottleService, renderer: Renderer) {
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== provider.pathFor('code_verification')) return next();
    const sessionKey = ctx.cookies.get(provider.cookieName('session'));
    try {
      await throttle.checkDeviceCodeEntry(ctx.ip, sessionKey);
    } catch (err) {
      if (!(err instanceof Throttled)) throw err;
      ctx.status = 429;
      ctx.type = 'html';
      ctx.set('Retry-After', String(err.retryAfterSeconds));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = renderer.render('pages/message', {
        title: 'Too many attempts',
        message: `Too many wrong codes were entered. Try again in ${err.retryAfterSeconds} seconds.`,
      });
      return;
    }
    await next();
    if (ctx.status === 400) await throttle.recordDeviceCodeFailure(ctx.ip, sessionKey);
  });
}
