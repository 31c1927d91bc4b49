import type Koa from 'koa';
import { AccountError, type AccountService } from '../accounts/accounts.service.js';
import type { Config } from '../config/config.js';
import { passwordOnly } from '../mfa/authentication-context.js';
import type { MfaService } from '../mfa/mfa.service.js';
import { Throttled } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';
import { finishInteraction, type Interaction } from './interaction-context.js';
import { field, renderPage } from './page.js';

/** The sign-in step: e-mail and password, then a second factor when the account has one. */
export function createLoginStep(deps: { renderer: Renderer; accounts: AccountService; config: Config; mfa: MfaService; upstreamButtons?: () => Array<{ id: string; name: string }> }) {
  const { renderer, accounts, config, mfa } = deps;

  function show(ctx: Koa.Context, interaction: Interaction, clientName: string, extra: { email?: string; error?: string; notice?: string } = {}, status = 200) {
    renderPage(ctx, renderer, 'pages/login', { uid: interaction.uid, clientName, signupAllowed: config.signup === 'open', passkeys: config.mfa !== 'off', upstream: deps.upstreamButtons?.() ?? [], ...extra }, status);
  }

  return {
    show,

    async submit(ctx: Koa.Context, interaction: Interaction, clientName: string) {
      const email = field(ctx.request.body, 'email', 320);
      const password = field(ctx.request.body, 'password', 4096);
      try {
        const account = await accounts.authenticate({ email, password }, { ip: ctx.ip });
        // an account with a second factor (or one that must enrol) is not signed in yet
        const next = await mfa.afterPassword(interaction.uid, account.id, interaction.params.acr_values);
        if (next !== 'done') {
          ctx.status = 303;
          return ctx.redirect(`/interaction/${interaction.uid}/${next === 'enrol' ? 'mfa/enrol' : 'mfa'}`);
        }
        await finishInteraction(ctx, interaction, { login: { accountId: account.id, ...passwordOnly(), remember: true } });
      } catch (err) {
        if (err instanceof Throttled) {
          ctx.set('Retry-After', String(err.retryAfterSeconds));
          show(ctx, interaction, clientName, { email, error: `Too many attempts. Try again in ${err.retryAfterSeconds} seconds.` }, 429);
        } else if (err instanceof AccountError) {
          show(ctx, interaction, clientName, { email, error: err.message }, 400);
        } else throw err;
      }
    },
  };
}
