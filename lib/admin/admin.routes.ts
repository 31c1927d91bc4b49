import Router from '@koa/router';
import type Koa from 'koa';
import { RECENT_SIGN_IN_SECONDS } from '../account/account-security.routes.js';
import { createSignedIn } from '../account/signed-in.js';
import type { Principal } from '../api/api-auth.js';
import { LatchError } from '../http/errors.js';
import { renderPage } from '../interactions/page.js';
import type { Renderer } from '../views/renderer.js';
import type { AdminCommands } from './admin-commands.js';

/**
 * /admin: the admin console, for administrators only, behind a sign-in from the last five
 * minutes (as /account/security). Server-rendered; every change is a CSRF-protected form post
 * that runs the same admin command as the `latch` CLI, recorded in the audit log with the
 * administrator as its actor, and answered by a 303 back to the page with a fixed notice.
 *
 *   GET  /admin                                   overview
 *   GET  /admin/clients                           clients; dynamic ones marked, with last use
 *   POST /admin/clients/:clientId/delete
 *   GET  /admin/users?search=                     accounts
 *   POST /admin/users/:accountId/disable | enable | reset-mfa | make-admin
 *   GET  /admin/orgs  ·  GET /admin/orgs/:orgId   organizations and their members
 *   GET  /admin/resources                         resource servers
 *   GET  /admin/audit?type=&actor=&outcome=&since=&until=   the audit log, filtered
 */
const NOTICES: Record<string, string> = {
  'client-deleted': 'The client was deleted with its grants and tokens.',
  disabled: 'The account was disabled; its sessions, grants and tokens ended.',
  enabled: 'The account was enabled.',
  'mfa-reset': 'The second factors of the account were removed.',
  'made-admin': 'The account is now an administrator.',
};
const AUDIT_FILTERS = ['type', 'actor', 'subject', 'outcome', 'since', 'until'] as const;
const AUDIT_PAGE = 200;

type Command = (args: Record<string, unknown>) => Promise<unknown>;

type Deps = {
  issuer: string;
  renderer: Renderer;
  sessionPrincipal: (ctx: Koa.Context) => Promise<Principal | undefined>;
  isAdmin: (accountId: string) => Promise<boolean>;
  /** the admin commands, acting as this administrator */
  commandsFor: (actor: string) => AdminCommands;
};

export function adminRoutes(deps: Deps, formMiddleware: Koa.Middleware[]) {
  const { renderer } = deps;
  const router = new Router({ prefix: '/admin' });
  router.use(...formMiddleware);
  const { signedIn } = createSignedIn({ issuer: deps.issuer, sessionPrincipal: deps.sessionPrincipal });

  /** The administrator behind this request, or undefined once it has been answered. */
  async function admin(ctx: Koa.Context): Promise<{ principal: Principal; run: (name: string, args?: Record<string, unknown>) => Promise<unknown> } | undefined> {
    const principal = await signedIn(ctx, { maxAgeSeconds: RECENT_SIGN_IN_SECONDS });
    if (!principal) return undefined;
    if (!(await deps.isAdmin(principal.accountId!))) {
      renderPage(ctx, renderer, 'pages/message', { title: 'Not allowed', message: 'The admin console is for administrators.', link: { href: '/account', label: 'Your account' } }, 403);
      return undefined;
    }
    const commands = deps.commandsFor(principal.accountId!) as unknown as Record<string, Command>;
    return { principal, run: (name, args = {}) => commands[name]!(args) };
  }

  const notice = (ctx: Koa.Context) => (typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined);
  const query = (ctx: Koa.Context, name: string, max = 200) => {
    const value = ctx.query[name];
    return typeof value === 'string' && !value.includes('\u0000') ? value.slice(0, max) : '';
  };

  /** A page whose data may be refused (bad filters): the page is shown with the message instead. */
  async function page(ctx: Koa.Context, view: string, load: (run: (name: string, args?: Record<string, unknown>) => Promise<unknown>, me: Principal) => Promise<Record<string, unknown>>, fallback: Record<string, unknown> = {}) {
    const a = await admin(ctx);
    if (!a) return;
    try {
      renderPage(ctx, renderer, view, { ...(await load(a.run, a.principal)), notice: notice(ctx), me: a.principal.accountId });
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      renderPage(ctx, renderer, view, { ...fallback, error: err.message, me: a.principal.accountId }, err.status);
    }
  }

  /** Runs a change as this administrator; a refused one shows its page again with the reason. */
  async function change(ctx: Koa.Context, command: string, args: Record<string, unknown>, done: string, back: string) {
    const a = await admin(ctx);
    if (!a) return;
    try {
      await a.run(command, args);
      ctx.status = 303;
      ctx.redirect(`${back}?done=${done}`);
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      renderPage(ctx, renderer, 'pages/message', { title: 'Not done', message: err.message, link: { href: back, label: 'Back' } }, err.status);
    }
  }

  router.get('/', (ctx) =>
    page(ctx, 'pages/admin', async (run) => {
      const [clients, users, orgs, events] = await Promise.all([run('clients.list'), run('users.list', { limit: 1000 }), run('orgs.list', { limit: 1000 }), run('audit.list', { limit: 10 })]);
      return { counts: { clients: (clients as unknown[]).length, users: (users as unknown[]).length, orgs: (orgs as unknown[]).length }, events };
    }),
  );

  router.get('/clients', (ctx) => page(ctx, 'pages/admin-clients', async (run) => ({ clients: await run('clients.list') }), { clients: [] }));
  router.post('/clients/:clientId/delete', (ctx) => change(ctx, 'clients.delete', { clientId: ctx.params.clientId }, 'client-deleted', '/admin/clients'));

  router.get('/users', (ctx) => {
    const search = query(ctx, 'search', 320);
    return page(ctx, 'pages/admin-users', async (run) => ({ users: await run('users.list', { search, limit: 200 }), search }), { users: [], search });
  });
  const userAction = (action: string, command: string, done: string) =>
    router.post(`/users/:accountId/${action}`, (ctx) => change(ctx, command, { user: ctx.params.accountId }, done, '/admin/users'));
  userAction('disable', 'users.disable', 'disabled');
  userAction('enable', 'users.enable', 'enabled');
  userAction('reset-mfa', 'users.reset-mfa', 'mfa-reset');
  userAction('make-admin', 'users.make-admin', 'made-admin');

  router.get('/orgs', (ctx) => page(ctx, 'pages/admin-orgs', async (run) => ({ orgs: await run('orgs.list', { limit: 1000 }) }), { orgs: [] }));
  router.get('/orgs/:orgId', (ctx) => page(ctx, 'pages/admin-org', async (run) => ({ org: await run('orgs.show', { orgId: ctx.params.orgId }) }), { org: undefined }));

  router.get('/resources', (ctx) => page(ctx, 'pages/admin-resources', async (run) => ({ resources: await run('resources.list') }), { resources: [] }));

  router.get('/audit', (ctx) => {
    const filters = Object.fromEntries(AUDIT_FILTERS.map((name) => [name, query(ctx, name)]));
    return page(ctx, 'pages/admin-audit', async (run) => ({ events: await run('audit.list', { ...filters, limit: AUDIT_PAGE }), filters }), { events: [], filters });
  });

  return router;
}
