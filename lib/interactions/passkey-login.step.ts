import type Koa from 'koa';
import type { MfaService } from '../mfa/mfa.service.js';
import type { Renderer } from '../views/renderer.js';
import type { Interaction } from './interaction-context.js';
import { finishSignIn, PASSKEY_RESPONSE_MAX_LENGTH, renderFailure, sendOptions } from './mfa-common.js';
import { field } from './page.js';

/**
 * "Sign in with a passkey" on the sign-in page: passwordless, with a discoverable credential
 * and user verification required. The challenge is bound to this interaction.
 */
export function createPasskeyLoginStep(deps: {
  renderer: Renderer;
  mfa: MfaService;
  showLogin: (ctx: Koa.Context, interaction: Interaction, clientName: string, extra: { error?: string }, status: number) => void;
}) {
  const { renderer, mfa, showLogin } = deps;

  return {
    async options(ctx: Koa.Context, interaction: Interaction) {
      sendOptions(ctx, await mfa.passwordlessOptions(interaction.uid));
    },

    async submit(ctx: Koa.Context, interaction: Interaction, clientName: string) {
      try {
        await finishSignIn(ctx, interaction, await mfa.passwordlessSignIn(interaction.uid, field(ctx.request.body, 'response', PASSKEY_RESPONSE_MAX_LENGTH), ctx.ip));
      } catch (err) {
        await renderFailure(ctx, renderer, interaction.uid, err, (error, status) => showLogin(ctx, interaction, clientName, { error }, status));
      }
    },
  };
}
