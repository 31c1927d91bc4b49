import type Koa from 'koa';
import type Provider from 'oidc-provider';
import { AccountError, type AccountService } from '../accounts/accounts.service.js';
import type { Config } from '../config/config.js';
import { Throttled } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';
import { finishInteraction, type Interaction } from './interaction-context.js';
import { field, renderPage } from './page.js';

/** The sign-in step: e-mail and password. */
export function createLoginStep(deps: { provider: Provider; renderer: Renderer; accounts: AccountService; config: Config }) {
  const { provider, renderer, accounts, config } = deps;

  function show(ctx: Koa.Context, interaction: Interaction, clientName: string, extra: { email?: string; error?: string; notice?: string } = {}, status = 200) {
    renderPage(ctx, renderer, 'pages/login', { uid: interaction.uid, clientName, signupAllowed: config.signup === 'open', ...extra }, status);
  }

  return {
    show,

    async submit(ctx: Koa.Context, interaction: Interaction, clientName: string) {
      const email = field(ctx.request.body, 'email', 320);
      const password = field(ctx.request.body, 'password', 4096);
      try {
        const account = await accounts.authenticate({ email, password }, { ip: ctx.ip });
        await finishInteraction(provider, ctx, { login: { accountId: account.id, amr: ['pwd'], remember: true } });
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
