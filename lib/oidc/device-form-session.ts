import type Koa from 'koa';
import type Provider from 'oidc-provider';
import { onlyOn } from '../http/only-on.js';

/**
 * oidc-provider re-renders the device code form after an error (wrong code, missing CSRF
 * token) by putting a fresh CSRF secret in the browser's session. When that session is brand
 * new — the browser had no session cookie, or it had expired — its final "persist" step
 * throws, turning a 400 page into a 500. This middleware saves such a session properly and
 * sets its cookie, so the page the person sees carries a CSRF token that works.
 */
const UNSAVED_SESSION = 'persist can only be called on previously persisted Sessions';

export function saveNewDeviceFormSessions(provider: Provider, sessionTtlSeconds: number) {
  provider.use(onlyOn({ paths: [provider.pathFor('code_verification')] }, async (ctx: Koa.Context, next: Koa.Next) => {
    try {
      await next();
    } catch (err) {
      const session = ctx.oidc?.session;
      if (!(err instanceof TypeError && err.message === UNSAVED_SESSION && session && ctx.oidc.route === 'code_verification')) throw err;
      await session.save(sessionTtlSeconds);
      ctx.oidc.cookies.set(provider.cookieName('session'), session.id, { httpOnly: true, sameSite: 'lax', signed: true, maxAge: sessionTtlSeconds * 1000 });
    }
  }));
}
