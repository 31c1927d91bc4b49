import crypto from 'node:crypto';
import type Koa from 'koa';
import type { Principal } from '../api/api-auth.js';
import { LatchError } from '../http/errors.js';
import { ACCOUNT_CLIENT_ID, accountClientRedirectUri } from './account-client.js';

/**
 * Who is signed in on Latch's own pages (/account, /admin), sending the browser to sign in —
 * through /auth as the first-party account client — when nobody is, or when a page needs a
 * sign-in more recent than the session's (max_age + prompt=login).
 */
export const STATE_COOKIE = 'latch.account_state';
/** Where /account/callback may send the browser back to after signing in. */
export const RETURN_PATH = /^\/(account|admin)(\/|\?|$)/;

export function createSignedIn(deps: { issuer: string; sessionPrincipal: (ctx: Koa.Context) => Promise<Principal | undefined> }) {
  const { issuer } = deps;

  /** Sends the browser to sign in as the account client, remembering where to come back. */
  async function signInFirst(ctx: Koa.Context, maxAgeSeconds?: number) {
    const state = crypto.randomBytes(16).toString('base64url');
    const verifier = crypto.randomBytes(32).toString('base64url');
    ctx.cookies.set(STATE_COOKIE, `${state}.${encodeURIComponent(ctx.path + (ctx.querystring ? `?${ctx.querystring}` : ''))}`, { httpOnly: true, sameSite: 'lax', signed: true, maxAge: 10 * 60 * 1000, secure: issuer.startsWith('https:') });
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: accountClientRedirectUri(issuer),
      state,
      code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...(maxAgeSeconds ? { max_age: String(maxAgeSeconds), prompt: 'login' } : {}),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.href);
  }

  /**
   * The signed-in person, or undefined after answering: a GET is sent to sign in (again, when
   * the sign-in is older than `maxAgeSeconds`); a POST is refused with 401/403.
   */
  async function signedIn(ctx: Koa.Context, opts: { maxAgeSeconds?: number } = {}): Promise<Principal | undefined> {
    const principal = await deps.sessionPrincipal(ctx);
    const tooOld = !!principal && !!opts.maxAgeSeconds && (!principal.authTime || Date.now() / 1000 - principal.authTime > opts.maxAgeSeconds);
    if (!principal?.accountId || tooOld) {
      if (ctx.method === 'GET') await signInFirst(ctx, tooOld ? opts.maxAgeSeconds : undefined);
      else if (tooOld) throw new LatchError('reauthentication_required', 'Sign in again to change this (a sign-in within the last 5 minutes is needed).', 403);
      else throw new LatchError('unauthenticated', 'Your session has ended. Sign in again.', 401);
      return undefined;
    }
    return principal;
  }

  return { signedIn, signInFirst };
}
