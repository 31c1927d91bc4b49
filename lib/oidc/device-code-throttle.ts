import type Koa from 'koa';
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import { onlyOn } from '../http/only-on.js';
import { Throttled, type ThrottleService } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';

/**
 * RFC 8628 §5.1: user codes are short, so guessing them is rate-limited — per client IP and
 * per browser session, shared by every instance. Each refused code counts; past the limit the
 * entry page answers 429 with Retry-After until the window passes.
 */
export function limitDeviceCodeEntry(provider: Provider, throttle: ThrottleService, renderer: Renderer) {
  provider.use(onlyOn({ method: 'POST', paths: [provider.pathFor('code_verification')] }, async (ctx: Koa.Context, next: Koa.Next) => {
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
  }));
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * RFC 8628 §3.5: a device that polls for a still-pending code faster than the interval gets
 * `slow_down` instead of `authorization_pending`. oidc-provider answers pending every time, so
 * this wraps the token endpoint: each pending answer counts one poll of that code (per client)
 * in the shared rate-limit table, and a second one within the interval becomes `slow_down`.
 * Approved, denied and expired codes are answered as they are, however fast the poll.
 * The device authorization response names the interval, so clients need not assume 5 s.
 */
export function limitDeviceCodePolling(provider: Provider, throttle: ThrottleService, intervalSeconds: number) {
  provider.use(onlyOn({ method: 'POST', paths: [provider.pathFor('device_authorization'), provider.pathFor('token')] }, async (ctx: Koa.Context, next: Koa.Next) => {
    await next();
    if (ctx.path === provider.pathFor('device_authorization') && ctx.status === 200 && isRecord(ctx.body)) {
      ctx.body = { ...ctx.body, interval: intervalSeconds };
      return;
    }
    if (ctx.path !== provider.pathFor('token') || ctx.status !== 400 || !isRecord(ctx.body) || ctx.body.error !== 'authorization_pending') return;
    const params = ctx.oidc?.params as Record<string, unknown> | undefined;
    if (params?.grant_type !== DEVICE_CODE_GRANT || typeof params.device_code !== 'string') return;
    const key = createHash('sha256').update(`${ctx.oidc.client?.clientId ?? ''}\0${params.device_code}`).digest('base64url');
    if (await throttle.devicePollAllowed(key)) return;
    ctx.body = { error: 'slow_down', error_description: `poll at most once every ${intervalSeconds} seconds` };
  }));
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
