import Router from '@koa/router';
import type Koa from 'koa';
import type { Principal } from '../api/api-auth.js';
import { LatchError } from '../http/errors.js';
import type { MeService } from '../me/me.service.js';
import type { OrgService } from '../orgs/orgs.service.js';
import { field, renderPage } from '../interactions/page.js';
import type { AccountService } from '../accounts/accounts.service.js';
import type { Renderer } from '../views/renderer.js';
import type { MfaService } from '../mfa/mfa.service.js';
import { createSignedIn, RETURN_PATH, STATE_COOKIE } from './signed-in.js';
import type { ApiKeyService } from '../api-keys/api-keys.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import { addApiKeyRoutes } from './account-api-keys.routes.js';
import { addSecurityRoutes } from './account-security.routes.js';
import { addUpstreamAccountRoutes } from '../upstream/upstream.routes.js';
import type { UpstreamService } from '../upstream/upstream.service.js';

/**
 * /account: the person's own settings, server-rendered over the same services as the JSON API.
 * Signing in goes through /auth as the first-party account client; every change is a form
 * post with a CSRF token, answered by a 303 back to the page with a fixed notice.
 *
 *   GET  /account                          profile, sessions, apps, organizations
 *   GET  /account/callback                 back from signing in
 *   POST /account/profile | /verify-email  name; resend the verification mail
 *   POST /account/sessions/:id/end | /account/sessions/end-all
 *   POST /account/apps/:clientId/revoke
 *   POST /account/orgs | /account/orgs/:orgId/activate | /leave
 *   GET  /account/orgs/:orgId              members and invitations
 *   POST /account/orgs/:orgId/invite | /members/:accountId/role | /members/:accountId/remove
 *   GET/POST /account/invitations?token=   see and accept an invitation (the mailed link)
 *   POST /account/password                 change the password (the current one is needed)
 *   /account/security…                    second factors (account-security.routes.ts)
 *   /account/api-keys…                    API keys (account-api-keys.routes.ts)
 *   POST /account/upstream/:provider/link | /unlink   sign-in providers (lib/upstream/upstream.routes.ts)
 *   POST /account/delete                   delete the account (confirmation required)
 */
const NOTICES: Record<string, string> = {
  profile: 'Your profile was saved.',
  'verify-sent': 'We sent you a new confirmation link.',
  'session-ended': 'That session was signed out.',
  'signed-out-everywhere': 'Every session and app token was signed out.',
  'app-revoked': "The app's access was revoked.",
  'org-created': 'The organization was created.',
  'org-activated': 'The active organization was switched.',
  'org-left': 'You left the organization.',
  invited: 'The invitation was sent.',
  'role-changed': 'The role was changed.',
  'member-removed': 'The member was removed.',
  'password-changed': 'Your password was changed; every other session was signed out.',
  joined: 'You joined the organization.',
  'provider-linked': 'The provider was linked; you can sign in with it now.',
  'provider-unlinked': 'The provider was unlinked.',
};

type Deps = {
  issuer: string;
  renderer: Renderer;
  accounts: AccountService;
  me: MeService;
  orgs: OrgService;
  sessionPrincipal: (ctx: Koa.Context) => Promise<Principal | undefined>;
  mfa: MfaService;
  apiKeys: ApiKeyService;
  resources: ResourceService;
  upstream?: UpstreamService;
};

export function accountRoutes(deps: Deps, formMiddleware: Koa.Middleware[]) {
  const { issuer, renderer, me, orgs, accounts } = deps;
  const router = new Router({ prefix: '/account' });
  router.use(...formMiddleware);

  const { signedIn } = createSignedIn({ issuer, sessionPrincipal: deps.sessionPrincipal });

  const back = (ctx: Koa.Context, notice: string, to = '/account') => {
    ctx.status = 303;
    ctx.redirect(`${to}?done=${notice}`);
  };

  /** Runs a change; a refused one re-renders the page with its message instead of a 303. */
  async function change(ctx: Koa.Context, action: (p: Principal) => Promise<void>, notice: string, to?: (p: Principal) => string) {
    const principal = await signedIn(ctx);
    if (!principal) return;
    try {
      await action(principal);
      back(ctx, notice, to?.(principal));
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      await showAccount(ctx, principal, err.message, err.status);
    }
  }

  async function showAccount(ctx: Koa.Context, principal: Principal, error?: string, status = 200) {
    const accountId = principal.accountId!;
    const [profile, sessions, apps] = await Promise.all([me.profile(accountId), me.sessions(accountId, principal.sessionUid), me.connectedApps(accountId)]);
    const organizations = await orgs.list(accountId);
    const providers = deps.upstream ? await deps.upstream.linkedProviders(accountId) : [];
    const notice = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
    renderPage(ctx, renderer, 'pages/account', { profile, sessions, apps, organizations, providers, notice, error }, status);
  }

  router.get('/', async (ctx) => {
    const principal = await signedIn(ctx);
    if (principal) await showAccount(ctx, principal);
  });

  router.get('/callback', async (ctx) => {
    const saved = ctx.cookies.get(STATE_COOKIE, { signed: true }) ?? '';
    ctx.cookies.set(STATE_COOKIE, null);
    const [state, encodedPath] = saved.split('.');
    const path = encodedPath ? decodeURIComponent(encodedPath) : undefined;
    if (typeof ctx.query.error === 'string') {
      return renderPage(ctx, renderer, 'pages/message', { title: 'Not signed in', message: 'Signing in was cancelled.', link: { href: '/account', label: 'Try again' } }, 400);
    }
    if (!state || ctx.query.state !== state) {
      return renderPage(ctx, renderer, 'pages/message', { title: 'Sign-in expired', message: 'This sign-in was started in another window or has expired.', link: { href: '/account', label: 'Try again' } }, 400);
    }
    ctx.status = 303;
    // only back into the account pages or the admin console, never elsewhere
    ctx.redirect(path && RETURN_PATH.test(path) ? path : '/account');
  });

  router.post('/profile', (ctx) => change(ctx, async (p) => void (await me.updateProfile(p.accountId!, { name: field(ctx.request.body, 'name', 300) })), 'profile'));
  router.post('/password', (ctx) =>
    change(
      ctx,
      (p) => accounts.changePassword(p.accountId!, field(ctx.request.body, 'current_password', 4096), field(ctx.request.body, 'new_password', 4096), { ip: ctx.ip, keepSessionUid: p.sessionUid }),
      'password-changed',
    ),
  );
  router.post('/verify-email', (ctx) => change(ctx, (p) => accounts.sendVerificationMail(p.accountId!), 'verify-sent'));
  router.post('/sessions/end-all', (ctx) => change(ctx, async (p) => void (await me.signOutEverywhere(p.accountId!)), 'signed-out-everywhere'));
  router.post('/sessions/:sessionId/end', (ctx) => change(ctx, (p) => me.endSession(p.accountId!, ctx.params.sessionId), 'session-ended'));
  router.post('/apps/:clientId/revoke', (ctx) => change(ctx, (p) => me.revokeApp(p.accountId!, ctx.params.clientId), 'app-revoked'));
  router.post('/orgs', (ctx) => change(ctx, async (p) => void (await orgs.create(p.accountId!, { name: field(ctx.request.body, 'name', 200) })), 'org-created'));
  router.post('/orgs/:orgId/activate', (ctx) => change(ctx, async (p) => void (await orgs.setActive(p.accountId!, ctx.params.orgId)), 'org-activated'));
  router.post('/orgs/:orgId/leave', (ctx) => change(ctx, (p) => orgs.removeMember(p.accountId!, ctx.params.orgId, p.accountId!), 'org-left'));

  router.get('/orgs/:orgId', async (ctx) => {
    const principal = await signedIn(ctx);
    if (!principal) return;
    const org = await orgs.get(principal.accountId!, ctx.params.orgId);
    const members = await orgs.members(principal.accountId!, org.id);
    const invitations = org.role === 'member' ? [] : await orgs.invitations(principal.accountId!, org.id);
    const notice = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
    renderPage(ctx, renderer, 'pages/account-org', { org, members, invitations, notice, me: principal.accountId });
  });

  const orgPage = (ctx: Koa.Context) => () => `/account/orgs/${encodeURIComponent(ctx.params.orgId!)}`;
  router.post('/orgs/:orgId/invite', (ctx) =>
    change(ctx, async (p) => void (await orgs.invite(p.accountId!, ctx.params.orgId, { email: field(ctx.request.body, 'email', 320), role: field(ctx.request.body, 'role', 20) || 'member' })), 'invited', orgPage(ctx)),
  );
  router.post('/orgs/:orgId/members/:accountId/role', (ctx) =>
    change(ctx, (p) => orgs.changeRole(p.accountId!, ctx.params.orgId, ctx.params.accountId, { role: field(ctx.request.body, 'role', 20) }), 'role-changed', orgPage(ctx)),
  );
  router.post('/orgs/:orgId/members/:accountId/remove', (ctx) => change(ctx, (p) => orgs.removeMember(p.accountId!, ctx.params.orgId, ctx.params.accountId), 'member-removed', orgPage(ctx)));

  router.get('/invitations', async (ctx) => {
    const principal = await signedIn(ctx);
    if (!principal) return;
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const invitation = await orgs.peekInvitation(token);
    if (!invitation) {
      return renderPage(ctx, renderer, 'pages/message', { title: 'Invitation not valid', message: 'This invitation has expired or was already used.', link: { href: '/account', label: 'Your account' } }, 400);
    }
    renderPage(ctx, renderer, 'pages/invitation', { ...invitation, token });
  });

  router.post('/invitations', async (ctx) => {
    const principal = await signedIn(ctx);
    if (!principal) return;
    try {
      const org = await orgs.acceptInvitation(principal.accountId!, field(ctx.request.body, 'token', 200));
      back(ctx, 'joined', `/account/orgs/${org.id}`);
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      renderPage(ctx, renderer, 'pages/message', { title: 'Invitation not accepted', message: err.message, link: { href: '/account', label: 'Your account' } }, err.status);
    }
  });

  if (deps.mfa.mode !== 'off') addSecurityRoutes(router, { renderer, mfa: deps.mfa, signedIn });
  addApiKeyRoutes(router, { renderer, apiKeys: deps.apiKeys, orgs, resources: deps.resources, signedIn });
  if (deps.upstream) addUpstreamAccountRoutes(router, { upstream: deps.upstream, renderer, issuer, signedIn });

  router.post('/delete', async (ctx) => {
    const principal = await signedIn(ctx);
    if (!principal) return;
    if (field(ctx.request.body, 'confirm') !== 'delete') {
      return showAccount(ctx, principal, 'Type "delete" to confirm that the account should be deleted.', 400);
    }
    try {
      await me.deleteAccount(principal.accountId!);
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      return showAccount(ctx, principal, err.message, err.status);
    }
    renderPage(ctx, renderer, 'pages/message', { title: 'Account deleted', message: 'Your account and everything it held were deleted.' });
  });

  return router;
}
