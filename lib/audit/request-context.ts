import type Koa from 'koa';
import oidcProviderContext from 'oidc-provider/lib/helpers/als.js';

/**
 * Where the current request came from, for the audit log. Set once per request by the app, so
 * a service deep inside a flow (or oidc-provider's events) can record an event with the
 * caller's IP and user agent without every function passing them along.
 *
 * The request's Koa context is kept in oidc-provider's own AsyncLocalStorage — the one that
 * serves `Provider.ctx` — rather than in a second one. On Node 20, every AsyncLocalStorage in
 * use is copied onto every promise the process creates, by every request, whether or not it
 * set a value: a second instance cost a client_credentials token request a fifth of its CPU.
 * The context stored is the same object oidc-provider stores for protocol requests (the
 * provider is mounted on this app), so on its routes nothing changes.
 */
export type RequestContext = { ip?: string; userAgent?: string };

export function currentRequest(): RequestContext | undefined {
  const ctx = oidcProviderContext.getStore() as Koa.Context | undefined;
  return ctx ? { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined } : undefined;
}

export function requestContext(): Koa.Middleware {
  return (ctx, next) => oidcProviderContext.run(ctx, next);
}
