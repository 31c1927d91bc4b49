import Koa from 'koa';
import compose from 'koa-compose';
import type Router from '@koa/router';
import type { Container } from './container.js';
import { requestContext } from './audit/request-context.js';
import { assetRoutes } from './http/assets.routes.js';
import { errorHandler, requestLog, unknownRoute } from './http/error-handler.js';
import { healthRoutes } from './http/health.routes.js';
import { observeRequests } from './http/request-observer.js';
import { securityHeaders } from './http/security-headers.js';
import { accountRoutes } from './account/account.routes.js';
import { createAdminCommands } from './admin/admin-commands.js';
import { adminRoutes } from './admin/admin.routes.js';
import { buildApi } from './api/api-router.js';
import { parseBody } from './http/body.js';
import { meRoutes } from './me/me.routes.js';
import { mfaRoutes } from './mfa/mfa.routes.js';
import { orgRoutes } from './orgs/orgs.routes.js';
import { apiKeyRoutes } from './api-keys/api-keys.routes.js';
import { csrfProtection } from './http/csrf.js';
import { accountEmailRoutes } from './interactions/account-email.routes.js';
import { interactionRoutes } from './interactions/interaction.routes.js';
import { PROTOCOL_ROUTES } from './oidc/provider.js';
import { wellKnownRoutes } from './oidc/well-known.routes.js';
import { upstreamApiRoutes, upstreamRoutes } from './upstream/upstream.routes.js';

/**
 * Latch's own routers, skipped for the protocol endpoints: a token or introspection request
 * would otherwise be matched against every route of every router on its way to oidc-provider.
 * A protocol path is skipped only if no router matches it for any method, checked here.
 */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
function latchRoutes(routers: Router[]): Koa.Middleware {
  const protocolPaths = [...Object.values(PROTOCOL_ROUTES), '/.well-known/openid-configuration'];
  const providerOnly = new Set(protocolPaths.filter((path) => routers.every((router) => METHODS.every((method) => !router.match(path, method).path.length))));
  const routes = routersByFirstSegment(routers);
  return (ctx, next) => (providerOnly.has(ctx.path) ? next() : routes(ctx.path)(ctx, next));
}

/**
 * The routers a path can reach, by its first segment: each router is matched only against the
 * paths its routes could match (an API call is not tried against every hosted page's route).
 * A route's first segment is static ("api"), begins with a static part and goes on as a
 * pattern ("account(?:/…)?", from router.use: reached by any segment starting "account"), or
 * is a parameter, a pattern or empty (the router is tried for every path). A path whose first
 * segment no route names is tried against every router that might take it. Routers keep their
 * order; matching ignores case, as @koa/router's does.
 */
function routersByFirstSegment(routers: Router[]): (path: string) => Koa.Middleware {
  const firstSegment = (path: string) => path.split('/', 2)[1]?.toLowerCase() ?? '';
  type Reach = { exact: Set<string>; prefixes: Set<string> } | 'any';
  const reachOf = (router: Router): Reach => {
    const exact = new Set<string>();
    const prefixes = new Set<string>();
    for (const layer of router.stack) {
      const segment = typeof layer.path === 'string' ? firstSegment(layer.path) : '';
      const staticPart = /^[a-z0-9._~-]*/.exec(segment)![0];
      if (!staticPart) return 'any';
      if (staticPart === segment) exact.add(segment);
      else prefixes.add(staticPart);
    }
    return { exact, prefixes };
  };
  const reach = routers.map((router) => ({ router, reach: reachOf(router) }));
  const takes = (r: Reach, segment: string | undefined) =>
    r === 'any' || (segment === undefined ? r.prefixes.size > 0 : r.exact.has(segment) || [...r.prefixes].some((prefix) => segment.startsWith(prefix)));
  const composed = (segment: string | undefined) =>
    compose(reach.filter((r) => takes(r.reach, segment)).flatMap(({ router }) => [router.routes(), router.allowedMethods()]) as Koa.Middleware[]);
  const named = new Set(reach.flatMap(({ reach: r }) => (r === 'any' ? [] : [...r.exact, ...r.prefixes])));
  const bySegment = new Map([...named].map((segment) => [segment, composed(segment)]));
  const others = composed(undefined);
  return (path) => bySegment.get(firstSegment(path)) ?? others;
}

/** The Koa app; middleware in the order a request meets it, oidc-provider mounted last. */
export function createApp(c: Container): Koa {
  const app = new Koa();
  app.proxy = c.config.trustProxy;
  // the provider runs inside this app's context (koa-mount), so cookies are signed with these;
  // the signer reads the key array, which is updated in place when the cookie keys rotate
  app.keys = c.providerHost.cookieSigner;
  app.silent = true;

  // hosted forms: parse the body, then check Origin / Fetch Metadata and the CSRF token
  const forms = [
    parseBody(),
    csrfProtection({ allowedOrigins: c.config.allowedOrigins, secureCookies: new URL(c.config.issuer).protocol === 'https:' }),
  ];
  const routers = [
    healthRoutes({ knex: c.knex, metrics: c.metrics }),
    assetRoutes(),
    wellKnownRoutes({ issuer: c.config.issuer, latchApi: c.resources.latchApi }),
    // before the interaction steps: its /interaction/:uid/upstream/… paths are more specific
    upstreamRoutes({ provider: c.provider, renderer: c.renderer, upstream: c.upstream, mfa: c.mfa, issuer: c.config.issuer, sessionPrincipal: c.authenticateApi.readSession }, forms),
    interactionRoutes(
      { provider: c.provider, renderer: c.renderer, accounts: c.accounts, consents: c.consents, clients: c.queries.clients, resources: c.resources, orgs: c.orgs, config: c.config, mfa: c.mfa, upstreamButtons: c.upstreamRegistry.buttons },
      forms,
    ),
    accountEmailRoutes({ renderer: c.renderer, accounts: c.accounts }, forms),
    accountRoutes({ issuer: c.config.issuer, renderer: c.renderer, accounts: c.accounts, me: c.me, orgs: c.orgs, sessionPrincipal: c.authenticateApi.readSession, mfa: c.mfa, apiKeys: c.apiKeys, resources: c.resources, upstream: c.upstream }, forms),
    adminRoutes(
      {
        issuer: c.config.issuer,
        renderer: c.renderer,
        sessionPrincipal: c.authenticateApi.readSession,
        isAdmin: async (accountId) => !!(await c.accounts.findById(accountId))?.isAdmin,
        commandsFor: (actor) => createAdminCommands(c, { actor }),
      },
      forms,
    ),
    buildApi({
      prefix: '/api/v1',
      issuer: c.config.issuer,
      authenticate: c.authenticateApi,
      bodyParser: parseBody(),
      routes: [...meRoutes(c.me), ...orgRoutes(c.orgs), ...mfaRoutes(c.mfa), ...apiKeyRoutes(c.apiKeys), ...upstreamApiRoutes(c.upstream)],
    }),
  ];

  // a log line and the metrics for each request, when its response is done
  app.use(observeRequests([requestLog(c.log), c.metrics.requestObserver()]));
  // who is calling (IP, user agent), for audit events recorded anywhere below
  app.use(requestContext());
  app.use(securityHeaders({ issuer: c.config.issuer }));
  app.use(errorHandler({ log: c.log, renderer: c.renderer }));
  app.use(latchRoutes(routers));
  app.use(unknownRoute());
  app.use(c.providerHost.middleware());
  return app;
}
