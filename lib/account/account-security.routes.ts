import type Router from '@koa/router';
import type Koa from 'koa';
import type { Principal } from '../api/api-auth.js';
import { LatchError } from '../http/errors.js';
import { PASSKEY_RESPONSE_MAX_LENGTH, sendOptions } from '../interactions/mfa-common.js';
import { field, renderPage } from '../interactions/page.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { Renderer } from '../views/renderer.js';

/**
 * /account/security: second factors, managed from the account pages. Every visit and change
 * needs a sign-in within the last five minutes (SECURITY.md E.34); an older session is sent
 * to sign in again first.
 *
 *   GET  /account/security                      factors and remaining recovery codes
 *   GET  /account/security/totp                 QR code + secret for a new authenticator app
 *   POST /account/security/totp                 confirm it with a code (recovery codes shown once)
 *   POST /account/security/passkeys/options     WebAuthn registration options (JSON, for passkeys.js)
 *   POST /account/security/passkeys             register the passkey the browser created
 *   POST /account/security/totp/remove | /passkeys/:id/remove | /recovery-codes
 */
export const RECENT_SIGN_IN_SECONDS = 5 * 60;

type Deps = {
  renderer: Renderer;
  mfa: MfaService;
  signedIn: (ctx: Koa.Context, opts?: { maxAgeSeconds?: number }) => Promise<Principal | undefined>;
};

export function addSecurityRoutes(router: Router, deps: Deps) {
  const { renderer, mfa } = deps;
  const fresh = (ctx: Koa.Context) => deps.signedIn(ctx, { maxAgeSeconds: RECENT_SIGN_IN_SECONDS });

  async function show(ctx: Koa.Context, principal: Principal, extra: { error?: string; notice?: string } = {}, status = 200) {
    const factors = await mfa.factorsOf(principal.accountId!);
    renderPage(ctx, renderer, 'pages/account-security', { factors, required: mfa.mode === 'required', ...extra }, status);
  }

  async function change(ctx: Koa.Context, action: (accountId: string) => Promise<unknown>, notice: string) {
    const principal = await fresh(ctx);
    if (!principal) return;
    try {
      const result = (await action(principal.accountId!)) as { recoveryCodes?: string[] } | undefined;
      if (result?.recoveryCodes?.length) return showCodes(ctx, result.recoveryCodes);
      await show(ctx, principal, { notice });
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      await show(ctx, principal, { error: err.message }, err.status);
    }
  }

  function showCodes(ctx: Koa.Context, codes: string[]) {
    renderPage(ctx, renderer, 'pages/mfa-recovery-codes', {
      codes,
      downloadHref: `data:text/plain;charset=utf-8,${encodeURIComponent(`${codes.join('\n')}\n`)}`,
      continueAction: '/account/security/done',
    });
  }

  router.get('/security', async (ctx) => {
    const principal = await fresh(ctx);
    if (principal) await show(ctx, principal);
  });

  router.post('/security/done', async (ctx) => {
    ctx.status = 303;
    ctx.redirect('/account/security');
  });

  router.get('/security/totp', async (ctx) => {
    const principal = await fresh(ctx);
    if (!principal) return;
    const enrolment = await mfa.startTotpEnrolment(principal.accountId!);
    renderPage(ctx, renderer, 'pages/account-totp', enrolment);
  });

  router.post('/security/totp', (ctx) => change(ctx, (id) => mfa.confirmTotp(id, field(ctx.request.body, 'code', 20).replace(/\s/g, '')), 'Your authenticator app is set up.'));
  // Asked by passkeys.js with fetch: answers JSON either way, so the page can show the message.
  router.post('/security/passkeys/options', async (ctx) => {
    try {
      const principal = await fresh(ctx);
      if (!principal) return;
      sendOptions(ctx, await mfa.passkeyOptionsForAccount(principal.accountId!, `session:${principal.sessionUid}`));
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      ctx.status = err.status;
      ctx.body = { error: err.code, message: err.message };
    }
  });
  router.post('/security/passkeys', (ctx) =>
    change(ctx, async (id) => {
      const principal = (await fresh(ctx))!;
      const name = field(ctx.request.body, 'name', 200).trim() || 'Passkey';
      return mfa.addPasskey(id, `session:${principal.sessionUid}`, field(ctx.request.body, 'response', PASSKEY_RESPONSE_MAX_LENGTH), name.slice(0, 100));
    }, 'The passkey was added.'),
  );
  router.post('/security/totp/remove', (ctx) => change(ctx, (id) => mfa.removeTotp(id), 'The authenticator app was removed.'));
  router.post('/security/passkeys/:id/remove', (ctx) => change(ctx, (id) => mfa.removePasskey(id, ctx.params.id!), 'The passkey was removed.'));
  router.post('/security/recovery-codes', (ctx) => change(ctx, (id) => mfa.regenerateRecoveryCodes(id), 'New recovery codes were made.'));
}
