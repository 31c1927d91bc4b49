import type Koa from 'koa';
import { MfaError } from '../mfa/mfa-errors.js';
import type { SignedIn } from '../mfa/mfa.service.js';
import { Throttled } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';
import { finishInteraction, type Interaction } from './interaction-context.js';
import { renderPage } from './page.js';

/** What the second-factor steps share: finishing the sign-in, and the ways it can fail. */

/** The longest form field a passkey ceremony posts (its JSON response). */
export const PASSKEY_RESPONSE_MAX_LENGTH = 32 * 1024;

export async function finishSignIn(ctx: Koa.Context, interaction: Interaction, signedIn: SignedIn) {
  await finishInteraction(ctx, interaction, { login: { accountId: signedIn.accountId, amr: signedIn.amr, acr: signedIn.acr, remember: true } });
}

/**
 * Shows a refused attempt: 429 with Retry-After when throttled, a fresh start when the pending
 * sign-in has expired, or the same page again with the message. Anything else is rethrown.
 */
export function renderFailure(
  ctx: Koa.Context,
  renderer: Renderer,
  uid: string,
  err: unknown,
  again: (error: string, status: number) => Promise<void> | void,
) {
  if (err instanceof Throttled) {
    ctx.set('Retry-After', String(err.retryAfterSeconds));
    return again(`Too many attempts. Try again in ${err.retryAfterSeconds} seconds.`, 429);
  }
  if (isExpired(err)) return renderExpired(ctx, renderer, uid);
  if (err instanceof MfaError) return again(err.message, err.status);
  throw err;
}

export const isExpired = (err: unknown) => err instanceof MfaError && err.code === 'sign_in_expired';

/** The pending sign-in is gone (expired, finished, or never was): start again from the password. */
export function renderExpired(ctx: Koa.Context, renderer: Renderer, uid: string) {
  renderPage(ctx, renderer, 'pages/message', {
    title: 'This sign-in has expired',
    message: MfaError.expired().message,
    link: { href: `/interaction/${uid}`, label: 'Sign in again' },
  }, 400);
}

/** Answers a passkey options request: JSON, never cached. */
export function sendOptions(ctx: Koa.Context, options: unknown) {
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'json';
  ctx.body = options;
}

export function recoveryCodesDownload(codes: string[], issuerHost: string): string {
  const text = [`Recovery codes for ${issuerHost}`, 'Each code signs you in once.', '', ...codes, ''].join('\n');
  return `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`;
}
