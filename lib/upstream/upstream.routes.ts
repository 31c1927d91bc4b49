import Router from '@koa/router';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import { route, type ApiRoute } from '../api/api-router.js';
import type { Principal } from '../api/api-auth.js';
import { LatchError } from '../http/errors.js';
import { finishInteraction, loadInteraction } from '../interactions/interaction-context.js';
import { renderPage } from '../interactions/page.js';
import { upstreamOnly } from '../mfa/authentication-context.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { Renderer } from '../views/renderer.js';
import { UpstreamError, type UpstreamService } from './upstream.service.js';

/**
 * HTTP for upstream sign-in:
 *
 *   POST /interaction/:uid/upstream/:provider   "Continue with …" on the sign-in and sign-up pages
 *   GET  /upstream/:provider/callback           the provider sends the browser back here
 *   GET  /interaction/:uid/upstream/done        back at the interaction (its cookie is scoped
 *                                               to /interaction/:uid): sign in, then MFA policy
 *   POST /account/upstream/:provider/link | /unlink   from the account page
 *   GET  /api/v1/providers                      the enabled providers
 */
export const UPSTREAM_COOKIE = 'latch.upstream';
const PROVIDER_PARAM = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Sends the browser to the provider, with the cookie that binds the sign-in to it. */
async function redirectUpstream(ctx: Koa.Context, upstream: UpstreamService, issuer: string, purpose: { interactionUid: string } | { linkTo: string }) {
  const providerId = ctx.params.provider ?? '';
  if (!PROVIDER_PARAM.test(providerId)) throw new UpstreamError('unknown_provider', 'This sign-in provider is not available.', 404);
  const { url, browserToken } = await upstream.start(providerId, purpose);
  ctx.cookies.set(UPSTREAM_COOKIE, browserToken, { httpOnly: true, sameSite: 'lax', signed: true, secure: issuer.startsWith('https:'), path: '/', maxAge: 10 * 60 * 1000, overwrite: true });
  ctx.status = 303;
  ctx.redirect(url);
}

type Deps = { provider: Provider; renderer: Renderer; upstream: UpstreamService; mfa: MfaService; issuer: string; sessionPrincipal: (ctx: Koa.Context) => Promise<Principal | undefined> };

export function upstreamRoutes(deps: Deps, formMiddleware: Koa.Middleware[]) {
  const { provider, renderer, upstream, mfa, issuer } = deps;
  const router = new Router();

  function failure(ctx: Koa.Context, err: unknown, back: string) {
    if (!(err instanceof LatchError) || (err.status >= 500 && !(err instanceof UpstreamError))) throw err;
    const link = (err.details as { back?: string } | undefined)?.back ?? back;
    renderPage(ctx, renderer, 'pages/message', {
      title: err.code === 'link_required' ? 'Sign in to your account first' : 'Not signed in',
      message: err.message,
      link: { href: link, label: link.startsWith('/account') ? 'Back to your account' : 'Back to sign-in' },
    }, err.status);
  }

  async function begin(ctx: Koa.Context, purpose: { interactionUid: string }, back: string) {
    try {
      await redirectUpstream(ctx, upstream, issuer, purpose);
    } catch (err) {
      failure(ctx, err, back);
    }
  }

  router.post('/interaction/:uid/upstream/:provider', ...formMiddleware, async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    if (interaction.prompt.name !== 'login') {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${interaction.uid}`);
    }
    await begin(ctx, { interactionUid: interaction.uid }, `/interaction/${interaction.uid}`);
  });

  router.get('/upstream/:provider/callback', ...formMiddleware, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const providerId = ctx.params.provider ?? '';
    const browserToken = ctx.cookies.get(UPSTREAM_COOKIE, { signed: true });
    try {
      if (!PROVIDER_PARAM.test(providerId) || ctx.querystring.length > 8192) throw new UpstreamError('state_mismatch', 'This sign-in could not be completed. Start again.', 400);
      // the URL the provider was told to send the browser to, from ISSUER, never from Host
      const result = await upstream.callback(providerId, new URL(`${issuer}/upstream/${providerId}/callback?${ctx.querystring}`), browserToken);
      if (result.purpose === 'sign-in') {
        ctx.status = 303;
        return ctx.redirect(`/interaction/${result.interactionUid}/upstream/done`);
      }
      ctx.cookies.set(UPSTREAM_COOKIE, null, { path: '/' });
      const principal = await deps.sessionPrincipal(ctx);
      if (!principal?.accountId) throw new UpstreamError('unauthenticated', 'Your session has ended. Sign in again, then link the provider.', 401, { back: '/account' });
      await upstream.finishLink(principal.accountId, result);
      ctx.status = 303;
      ctx.redirect('/account?done=provider-linked');
    } catch (err) {
      // the cookie stays: a forged callback must not end the browser's own sign-in in flight
      failure(ctx, err, '/account');
    }
  });

  router.get('/interaction/:uid/upstream/done', ...formMiddleware, async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    const browserToken = ctx.cookies.get(UPSTREAM_COOKIE, { signed: true });
    ctx.cookies.set(UPSTREAM_COOKIE, null, { path: '/' });
    try {
      if (interaction.prompt.name !== 'login') throw new UpstreamError('state_mismatch', 'This sign-in was finished already.', 400);
      const { accountId } = await upstream.finishSignIn(interaction.uid, browserToken);
      // the same second-factor policy as after a password
      const next = await mfa.afterPassword(interaction.uid, accountId, interaction.params.acr_values, upstreamOnly().amr);
      if (next !== 'done') {
        ctx.status = 303;
        return ctx.redirect(`/interaction/${interaction.uid}/${next === 'enrol' ? 'mfa/enrol' : 'mfa'}`);
      }
      await finishInteraction(ctx, interaction, { login: { accountId, ...upstreamOnly(), remember: true } });
    } catch (err) {
      failure(ctx, err, `/interaction/${interaction.uid}`);
    }
  });

  return router;
}

/** /account additions: link and unlink providers (mounted by the account routes). */
export function addUpstreamAccountRoutes(
  router: Router,
  deps: { upstream: UpstreamService; renderer: Renderer; issuer: string; signedIn: (ctx: Koa.Context, opts?: { maxAgeSeconds?: number }) => Promise<Principal | undefined> },
) {
  const { upstream, renderer, issuer, signedIn } = deps;
  const page = (ctx: Koa.Context, err: unknown) => {
    if (!(err instanceof LatchError) || (err.status >= 500 && !(err instanceof UpstreamError))) throw err;
    renderPage(ctx, renderer, 'pages/message', { title: 'Not changed', message: err.message, link: { href: '/account', label: 'Back to your account' } }, err.status);
  };

  // adding a way to sign in needs a recent sign-in, like the other security changes
  router.post('/upstream/:provider/link', async (ctx) => {
    const principal = await signedIn(ctx, { maxAgeSeconds: 5 * 60 });
    if (!principal) return;
    try {
      await redirectUpstream(ctx, upstream, issuer, { linkTo: principal.accountId! });
    } catch (err) {
      page(ctx, err);
    }
  });

  router.post('/upstream/:provider/unlink', async (ctx) => {
    const principal = await signedIn(ctx);
    if (!principal) return;
    try {
      await upstream.unlink(principal.accountId!, String(ctx.params.provider ?? '').slice(0, 64));
      ctx.status = 303;
      ctx.redirect('/account?done=provider-unlinked');
    } catch (err) {
      page(ctx, err);
    }
  });
}

export function upstreamApiRoutes(upstream: UpstreamService): ApiRoute[] {
  return [
    route({
      method: 'get', path: '/providers', tag: 'upstream providers', scope: 'read', needsAccount: false,
      summary: 'The identity providers people can sign in through; `linked` says whether the calling account is linked to each',
      handler: async ({ principal }) => {
        const providers = await upstream.enabled();
        if (!principal.accountId) return providers;
        const linked = new Set((await upstream.linkedProviders(principal.accountId)).filter((p) => p.linked).map((p) => p.id));
        return providers.map((p) => ({ ...p, linked: linked.has(p.id) }));
      },
    }),
  ];
}
