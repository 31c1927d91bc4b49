import Router, { type RouterContext } from '@koa/router';
import type { ResourceServer } from '../resources/resources.service.js';

/**
 * RFC 9728 protected resource metadata for Latch's own API. It is served at the root
 * well-known path and at the path derived from the resource identifier (`…/api/v1`).
 */
export function wellKnownRoutes(deps: { issuer: string; latchApi: ResourceServer }) {
  const { issuer, latchApi } = deps;
  const document = {
    resource: latchApi.identifier,
    authorization_servers: [issuer],
    scopes_supported: latchApi.scopes,
    bearer_methods_supported: ['header'],
    resource_name: latchApi.name,
    resource_documentation: `${issuer}/api/v1/openapi.json`,
  };
  const router = new Router();
  const serve = (ctx: RouterContext) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = document;
  };
  router.get('/.well-known/oauth-protected-resource', serve);
  router.get(`/.well-known/oauth-protected-resource${new URL(latchApi.identifier).pathname}`, serve);
  return router;
}
