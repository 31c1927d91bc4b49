import type Koa from 'koa';
import type { MfaService } from '../mfa/mfa.service.js';
import type { Renderer } from '../views/renderer.js';
import type { Interaction } from './interaction-context.js';
import { finishSignIn, isExpired, PASSKEY_RESPONSE_MAX_LENGTH, renderExpired, renderFailure, sendOptions } from './mfa-common.js';
import { field, renderPage } from './page.js';

/**
 * The second step after a correct password: a code from the authenticator app, one of the
 * account's passkeys, or a recovery code. Which account is signing in comes from the pending
 * sign-in stored for this interaction, never from the form.
 */
export function createMfaChallengeStep(deps: { renderer: Renderer; mfa: MfaService }) {
  const { renderer, mfa } = deps;

  async function show(ctx: Koa.Context, interaction: Interaction, clientName: string, extra: { error?: string; method?: string } = {}, status = 200) {
    try {
      const pending = await mfa.pendingSignIn(interaction.uid);
      const factors = await mfa.factorsOf(pending.account_id);
      if (!factors.totp && !factors.passkeys.length) {
        ctx.status = 303;
        return ctx.redirect(`/interaction/${interaction.uid}/mfa/enrol`);
      }
      const method = extra.method ?? (ctx.query.method === 'recovery' ? 'recovery' : 'code');
      renderPage(ctx, renderer, 'pages/mfa-challenge', {
        uid: interaction.uid,
        clientName,
        totp: !!factors.totp,
        passkey: factors.passkeys.length > 0,
        method,
        error: extra.error,
      }, status);
    } catch (err) {
      if (isExpired(err)) return renderExpired(ctx, renderer, interaction.uid);
      throw err;
    }
  }

  /** Runs one verification; on success the sign-in finishes, else the page shows why. */
  async function attempt(ctx: Koa.Context, interaction: Interaction, clientName: string, method: 'code' | 'recovery', verify: () => ReturnType<MfaService['verifyTotp']>) {
    try {
      await finishSignIn(ctx, interaction, await verify());
    } catch (err) {
      await renderFailure(ctx, renderer, interaction.uid, err, (error, status) => show(ctx, interaction, clientName, { error, method }, status));
    }
  }

  return {
    show,

    submitTotp: (ctx: Koa.Context, interaction: Interaction, clientName: string) =>
      attempt(ctx, interaction, clientName, 'code', () => mfa.verifyTotp(interaction.uid, field(ctx.request.body, 'code', 32), ctx.ip)),

    submitRecoveryCode: (ctx: Koa.Context, interaction: Interaction, clientName: string) =>
      attempt(ctx, interaction, clientName, 'recovery', () => mfa.verifyRecoveryCode(interaction.uid, field(ctx.request.body, 'code', 64), ctx.ip)),

    async passkeyOptions(ctx: Koa.Context, interaction: Interaction) {
      sendOptions(ctx, await mfa.secondFactorPasskeyOptions(interaction.uid));
    },

    submitPasskey: (ctx: Koa.Context, interaction: Interaction, clientName: string) =>
      attempt(ctx, interaction, clientName, 'code', () =>
        mfa.verifySecondFactorPasskey(interaction.uid, field(ctx.request.body, 'response', PASSKEY_RESPONSE_MAX_LENGTH), ctx.ip),
      ),
  };
}
