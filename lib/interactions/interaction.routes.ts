import Router from '@koa/router';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { AccountService } from '../accounts/accounts.service.js';
import type { ClientQueries } from '../clients/clients.queries.js';
import type { Config } from '../config/config.js';
import type { ConsentService } from '../consents/consents.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { OrgService } from '../orgs/orgs.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import type { Renderer } from '../views/renderer.js';
import { createConsentStep } from './consent.step.js';
import { finishInteraction, loadInteraction, type Interaction } from './interaction-context.js';
import { createLoginStep } from './login.step.js';
import { createMfaChallengeStep } from './mfa-challenge.step.js';
import { createMfaEnrolStep } from './mfa-enrol.step.js';
import { createPasskeyLoginStep } from './passkey-login.step.js';
import { createSignUpStep } from './signup.step.js';

/**
 * Where oidc-provider sends a browser that must sign in or consent. Each step is one file;
 * this table says which URL reaches which step.
 *
 *   GET  /interaction/:uid          the step oidc-provider asks for (sign-in or consent)
 *   POST /interaction/:uid/login    e-mail + password
 *   GET  /interaction/:uid/signup   the sign-up form;  POST: create the account
 *   POST /interaction/:uid/consent  Allow / Deny
 *   POST /interaction/:uid/passkey[/options]        sign in with a passkey alone (options: JSON)
 *   GET  /interaction/:uid/mfa[?method=recovery]    second factor after the password
 *   POST /interaction/:uid/mfa/totp | /recovery     an authenticator app code | a recovery code
 *   POST /interaction/:uid/mfa/passkey[/options]    a passkey as second factor
 *   GET  /interaction/:uid/mfa/enrol                set up a second factor (LATCH_MFA=required)
 *   POST /interaction/:uid/mfa/enrol/totp           confirm the app with a code
 *   POST /interaction/:uid/mfa/enrol/passkey[/options]  register a passkey
 *   POST /interaction/:uid/mfa/done                 after the recovery codes: finish signing in
 *   POST /interaction/:uid/abort    give up: the app gets access_denied
 *   /interaction/:uid/upstream/…    sign in through GitHub, Google, … (lib/upstream/upstream.routes.ts)
 */
export type InteractionDeps = {
  provider: Provider;
  renderer: Renderer;
  accounts: AccountService;
  consents: ConsentService;
  clients: ClientQueries;
  resources: ResourceService;
  orgs: OrgService;
  config: Config;
  mfa: MfaService;
  /** "Continue with …" buttons: the enabled upstream providers */
  upstreamButtons?: () => Array<{ id: string; name: string }>;
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

  // second factors: each step runs only while the interaction is at its sign-in prompt
  type Step = (ctx: Koa.Context, interaction: Interaction, clientName: string) => unknown;
  const atLogin = (step: Step) => async (ctx: Koa.Context) => {
    const interaction = await loadInteraction(provider, ctx);
    if (interaction.prompt.name !== 'login') {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${interaction.uid}`);
    }
    await step(ctx, interaction, await clientNameOf(interaction.params.client_id));
  };
  if (deps.config.mfa !== 'off') {
    const mfaChallenge = createMfaChallengeStep(deps);
    const mfaEnrol = createMfaEnrolStep(deps);
    const passkeyLogin = createPasskeyLoginStep({ ...deps, showLogin: login.show });
    router.post('/passkey/options', atLogin(passkeyLogin.options));
    router.post('/passkey', atLogin(passkeyLogin.submit));
    router.get('/mfa', atLogin((ctx, interaction, clientName) => mfaChallenge.show(ctx, interaction, clientName)));
    router.post('/mfa/totp', atLogin(mfaChallenge.submitTotp));
    router.post('/mfa/recovery', atLogin(mfaChallenge.submitRecoveryCode));
    router.post('/mfa/passkey/options', atLogin(mfaChallenge.passkeyOptions));
    router.post('/mfa/passkey', atLogin(mfaChallenge.submitPasskey));
    router.get('/mfa/enrol', atLogin((ctx, interaction, clientName) => mfaEnrol.show(ctx, interaction, clientName)));
    router.post('/mfa/enrol/totp', atLogin(mfaEnrol.submitTotp));
    router.post('/mfa/enrol/passkey/options', atLogin(mfaEnrol.passkeyOptions));
    router.post('/mfa/enrol/passkey', atLogin(mfaEnrol.submitPasskey));
    router.post('/mfa/done', atLogin(mfaEnrol.done));
  }

  router.post('/abort', async (ctx) => {
    const interaction = await loadInteraction(provider, ctx);
    await finishInteraction(ctx, interaction, { error: 'access_denied', error_description: 'the person cancelled the request' });
  });

  return router;
}
