import Router from '@koa/router';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { AccountService } from '../accounts/accounts.service.js';
import type { ClientQueries } from '../clients/clients.queries.js';
import type { Config } from '../config/config.js';
import type { ConsentService } from '../consents/consents.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import type { Renderer } from '../views/renderer.js';
import { createConsentStep } from './consent.step.js';
import { finishInteraction, loadInteraction } from './interaction-context.js';
import { createLoginStep } from './login.step.js';
import { createSignUpStep } from './signup.step.js';

/**
 * Where oidc-provider sends a browser that must sign in or consent. Each step is one file;
 * this table says which URL reaches which step.
 *
 *   GET  /interaction/:uid          the step oidc-provider asks for (sign-in or consent)
 *   POST /interaction/:uid/login    e-mail + password
 *   GET  /interaction/:uid/signup   the sign-up form;  POST: create the account
 *   POST /interaction/:uid/consent  Allow / Deny
 *   POST /interaction/:uid/abort    give up: the app gets access_denied
 */
export type InteractionDeps = {
  provider: Provider;
  renderer: Renderer;
  accounts: AccountService;
  consents: ConsentService;
  clients: ClientQueries;
  resources: ResourceService;
  config: Config;
};

export function interactionRoutes(deps: InteractionDeps, formMiddleware: Koa.Middleware[]) {
  const { provider } = deps;
  const login = createLoginStep(deps);
  const signUp = createSignUpStep(deps);
  const consent = createConsentStep(deps);

  async function clientNameOf(clientId: unknown) {
    const client = await provider.Client.find(String(clientId));
    return client?.clientName ?? client?.clientId ?? '';
  }

  const router = new Router({ prefix: '/interaction/:uid' });
  router.use(...formMiddleware);

  router.get('/', async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    if (interaction.prompt.name === 'consent') return consent.show(ctx, interaction);
    const email = typeof ctx.query.email === 'string' ? ctx.query.email.slice(0, 254) : undefined;
    const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, 254) : undefined;
    login.show(ctx, interaction, await clientNameOf(interaction.params.client_id), { email: email ?? hint });
  });

  router.post('/login', async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    if (interaction.prompt.name !== 'login') {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${interaction.uid}`);
    }
    await login.submit(ctx, interaction, await clientNameOf(interaction.params.client_id));
  });

  router.get('/signup', async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    signUp.show(ctx, interaction, await clientNameOf(interaction.params.client_id));
  });

  router.post('/signup', async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    await signUp.submit(ctx, interaction, await clientNameOf(interaction.params.client_id));
  });

  router.post('/consent', async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    if (interaction.prompt.name !== 'consent') {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${interaction.uid}`);
    }
    await consent.submit(ctx, interaction);
  });

  router.post('/abort', async (ctx) => {
    await loadInteraction(provider, ctx);
    await finishInteraction(provider, ctx, { error: 'access_denied', error_description: 'the person cancelled the request' });
  });

  return router;
}
