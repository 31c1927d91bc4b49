import { AsyncLocalStorage } from 'node:async_hooks';
import type Koa from 'koa';

/**
 * Where the current request came from, for the audit log. Set once per request by the app, so
 * a service deep inside a flow (or oidc-provider's events) can record an event with the
 * caller's IP and user agent without every function passing them along.
 */
export type RequestContext = { ip?: string; userAgent?: string };

const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

export function requestContext(): Koa.Middleware {
  return (ctx, next) => storage.run({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined }, next);
}
