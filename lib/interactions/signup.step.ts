import type Koa from 'koa';
import { AccountError, type AccountService } from '../accounts/accounts.service.js';
import type { Config } from '../config/config.js';
import { Throttled } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';
import type { Interaction } from './interaction-context.js';
import { field, hasNul, renderPage } from './page.js';

/**
 * The sign-up step. Whether or not the address already has an account, the answer is the same
 * "check your e-mail" page; the person then signs in (verified or not yet).
 */
export function createSignUpStep(deps: { renderer: Renderer; accounts: AccountService; config: Config; upstreamButtons?: () => Array<{ id: string; name: string }> }) {
  const { renderer, accounts, config } = deps;

  function allowed(ctx: Koa.Context, interaction: Interaction) {
    if (config.signup === 'open') return true;
    renderPage(ctx, renderer, 'pages/message', {
      title: 'Sign-up is not open',
      message: config.signup === 'invite' ? 'Accounts on this server are created by invitation.' : 'This server does not accept new accounts.',
      link: { href: `/interaction/${interaction.uid}`, label: 'Sign in instead' },
    }, 403);
    return false;
  }

  return {
    show(ctx: Koa.Context, interaction: Interaction, clientName: string) {
      if (!allowed(ctx, interaction)) return;
      renderPage(ctx, renderer, 'pages/signup', { uid: interaction.uid, clientName, upstream: deps.upstreamButtons?.() ?? [] });
    },

    async submit(ctx: Koa.Context, interaction: Interaction, clientName: string) {
      if (!allowed(ctx, interaction)) return;
      const body = ctx.request.body;
      const email = field(body, 'email', 320);
      const name = field(body, 'name', 200);
      if (hasNul(body, 'name', 'email', 'password')) {
        renderPage(ctx, renderer, 'pages/signup', { uid: interaction.uid, clientName, email, name, upstream: deps.upstreamButtons?.() ?? [], error: 'The form contained characters that are not allowed.' }, 400);
        return;
      }
      try {
        await accounts.signUp({ email, name, password: field(body, 'password', 4096) }, { ip: ctx.ip });
        renderPage(ctx, renderer, 'pages/signup-done', { uid: interaction.uid, email });
      } catch (err) {
        const again = (error: string, status: number, fieldName?: string) =>
          renderPage(ctx, renderer, 'pages/signup', { uid: interaction.uid, clientName, email, name, upstream: deps.upstreamButtons?.() ?? [], error, field: fieldName }, status);
        if (err instanceof Throttled) {
          ctx.set('Retry-After', String(err.retryAfterSeconds));
          again(`Too many sign-ups from your network. Try again in ${err.retryAfterSeconds} seconds.`, 429);
        } else if (err instanceof AccountError) again(err.message, 400, err.field);
        else throw err;
      }
    },
  };
}
