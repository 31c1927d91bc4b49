import type Koa from 'koa';
import Tokens from 'csrf';
import { LatchError } from './errors.js';

/**
 * CSRF defence for Latch's own state-changing routes (SECURITY.md E.36): the Fetch Metadata
 * and Origin headers must not name a foreign site, and every form carries a token (pillarjs
 * `csrf`) tied to a secret in a signed, HttpOnly, SameSite=Lax cookie.
 */
export const CSRF_COOKIE = 'latch.csrf';
export const CSRF_FIELD = '_csrf';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class CsrfError extends LatchError {
  constructor(message: string) {
    super('csrf_failed', message, 403);
  }
}

export function csrfProtection(deps: { allowedOrigins: string[]; secureCookies: boolean }): Koa.Middleware {
  const tokens = new Tokens();
  const allowed = new Set(deps.allowedOrigins);
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, signed: true, secure: deps.secureCookies, overwrite: true };

  return async (ctx, next) => {
    let secret = ctx.cookies.get(CSRF_COOKIE, { signed: true });
    const hadSecret = !!secret;
    if (!secret) secret = tokens.secretSync();
    ctx.state.csrfToken = () => {
      if (!hadSecret) ctx.cookies.set(CSRF_COOKIE, secret, cookieOptions);
      return tokens.create(secret!);
    };

    if (UNSAFE.has(ctx.method)) {
      // Browsers send `Origin: null` on form posts from pages with Referrer-Policy: no-referrer
      // (ours), so a null origin is accepted only when Fetch Metadata says same-origin.
      const site = ctx.get('sec-fetch-site');
      const origin = ctx.get('origin');
      const trustedOrigin = !!origin && origin !== 'null' && allowed.has(origin);
      if ((site === 'cross-site' || site === 'same-site') && !trustedOrigin) {
        throw new CsrfError('This request came from another site and was refused.');
      }
      if (origin && !trustedOrigin && !(origin === 'null' && site === 'same-origin')) {
        throw new CsrfError('This request came from an untrusted origin and was refused.');
      }
      const body = ctx.request.body as Record<string, unknown> | undefined;
      const token = (typeof body?.[CSRF_FIELD] === 'string' ? body[CSRF_FIELD] : undefined) ?? ctx.get('x-csrf-token');
      if (!hadSecret || !token || !tokens.verify(secret, token)) {
        throw new CsrfError('This form has expired. Go back, reload the page and try again.');
      }
    }
    await next();
  };
}
