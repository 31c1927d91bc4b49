import type Koa from 'koa';
import type { Config } from '../config/config.js';
import { MfaError } from '../mfa/mfa-errors.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { Renderer } from '../views/renderer.js';
import type { Interaction } from './interaction-context.js';
import {
  finishSignIn,
  isExpired,
  PASSKEY_RESPONSE_MAX_LENGTH,
  recoveryCodesDownload,
  renderExpired,
  renderFailure,
  sendOptions,
} from './mfa-common.js';
import { field, renderPage } from './page.js';

/**
 * Enrolling a second factor in the middle of a sign-in: when LATCH_MFA=required (or the app
 * asked for acr urn:latch:acr:mfa) and the account has none yet. The password was checked;
 * the sign-in finishes — and a code or token can be issued — only once an authenticator app
 * (confirmed with a valid code) or a passkey is set up and the recovery codes were shown.
 */
export function createMfaEnrolStep(deps: { renderer: Renderer; mfa: MfaService; config: Config }) {
  const { renderer, mfa, config } = deps;
  const issuerHost = new URL(config.issuer).host;

  async function show(ctx: Koa.Context, interaction: Interaction, clientName: string, extra: { error?: string } = {}, status = 200) {
    try {
      const pending = await mfa.pendingSignIn(interaction.uid);
      if (await mfa.hasSecondFactor(pending.account_id)) {
        ctx.status = 303;
        return ctx.redirect(`/interaction/${interaction.uid}/mfa`);
      }
      const enrolment = await mfa.beginTotpEnrolment(interaction.uid);
      renderPage(ctx, renderer, 'pages/mfa-enrol', {
        uid: interaction.uid,
        clientName,
        reason:
          config.mfa === 'required'
            ? 'This server asks every account for a second way to prove it is you. Set one up to continue.'
            : `${clientName || 'The app'} asks for a sign-in with two-step verification. Set it up to continue.`,
        qrCodeDataUrl: enrolment.qrCodeDataUrl,
        secret: enrolment.secret.match(/.{1,4}/g)!.join(' '),
        error: extra.error,
      }, status);
    } catch (err) {
      if (isExpired(err)) return renderExpired(ctx, renderer, interaction.uid);
      throw err;
    }
  }

  function showRecoveryCodes(ctx: Koa.Context, interaction: Interaction, codes: string[]) {
    renderPage(ctx, renderer, 'pages/mfa-recovery-codes', {
      codes,
      downloadHref: recoveryCodesDownload(codes, issuerHost),
      continueAction: `/interaction/${interaction.uid}/mfa/done`,
      notice: 'Two-step verification is on.',
    });
  }

  async function enrol(ctx: Koa.Context, interaction: Interaction, clientName: string, confirm: () => Promise<{ recoveryCodes: string[] }>) {
    try {
      showRecoveryCodes(ctx, interaction, (await confirm()).recoveryCodes);
    } catch (err) {
      if (err instanceof MfaError && err.code === 'second_factor_exists') {
        return renderPage(ctx, renderer, 'pages/message', {
          title: 'Two-step verification is already on',
          message: err.message,
          link: { href: `/interaction/${interaction.uid}/mfa`, label: 'Continue' },
        }, err.status);
      }
      await renderFailure(ctx, renderer, interaction.uid, err, (error, status) => show(ctx, interaction, clientName, { error }, status));
    }
  }

  return {
    show,

    submitTotp: (ctx: Koa.Context, interaction: Interaction, clientName: string) =>
      enrol(ctx, interaction, clientName, () => mfa.confirmTotpEnrolment(interaction.uid, field(ctx.request.body, 'code', 32))),

    async passkeyOptions(ctx: Koa.Context, interaction: Interaction) {
      sendOptions(ctx, await mfa.passkeyEnrolmentOptions(interaction.uid));
    },

    submitPasskey: (ctx: Koa.Context, interaction: Interaction, clientName: string) =>
      enrol(ctx, interaction, clientName, () =>
        mfa.confirmPasskeyEnrolment(interaction.uid, field(ctx.request.body, 'response', PASSKEY_RESPONSE_MAX_LENGTH), field(ctx.request.body, 'name', 200)),
      ),

    /** "Continue" after the recovery codes: the sign-in finishes with the enrolled factor. */
    async done(ctx: Koa.Context, interaction: Interaction, clientName: string) {
      try {
        await finishSignIn(ctx, interaction, await mfa.finishEnrolment(interaction.uid));
      } catch (err) {
        await renderFailure(ctx, renderer, interaction.uid, err, (error, status) => show(ctx, interaction, clientName, { error }, status));
      }
    },
  };
}
