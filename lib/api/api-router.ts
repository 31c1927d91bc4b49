import Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import { forbidden, invalidInput, notFound } from '../http/errors.js';
import type { Principal } from './api-auth.js';

/**
 * Latch's JSON API is declared as a table of routes, each with its input schema (zod). The
 * same table builds the Koa routes — input validated at the edge — and the OpenAPI document.
 */
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export type ApiInput<B> = { principal: Principal; params: Record<string, string>; body: B; query: Record<string, unknown>; ctx: Koa.Context };

export type ApiRoute<B = unknown> = {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  /** 'read' needs api:read, 'write' needs api:write (sessions have both) */
  scope: 'read' | 'write';
  /** the call acts for a person; a client acting for itself is refused */
  needsAccount?: boolean;
  body?: z.ZodType<B>;
  status?: number;
  handler: (input: ApiInput<B>) => Promise<unknown>;
};

export function route<B>(spec: ApiRoute<B>): ApiRoute<unknown> {
  return spec as ApiRoute<unknown>;
}

const API_SCOPE = { read: 'api:read', write: 'api:write' } as const;

export function buildApi(deps: { prefix: string; authenticate: (ctx: Koa.Context) => Promise<Principal>; routes: ApiRoute[]; bodyParser: Koa.Middleware; issuer: string }) {
  const router = new Router({ prefix: deps.prefix });

  for (const spec of deps.routes) {
    router[spec.method](spec.path, deps.bodyParser, async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      const principal = await deps.authenticate(ctx);
      // an organization's API key acts only inside its organization: any other is "not found"
      const orgParam = (ctx.params as Record<string, string | undefined>).orgId;
      if (principal.boundToOrg !== undefined && orgParam !== undefined && orgParam !== principal.boundToOrg) throw notFound('organization');
      if (!principal.scopes.includes(API_SCOPE[spec.scope]) && !principal.scopes.includes('api:write')) {
        throw forbidden(`this call needs the ${API_SCOPE[spec.scope]} scope`);
      }
      if (spec.needsAccount !== false && !principal.accountId) throw forbidden('this call acts for a person; the token has no account');
      let body: unknown = undefined;
      if (spec.body) {
        const parsed = spec.body.safeParse(ctx.request.body ?? {});
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw invalidInput(`${issue.path.join('.') || 'body'}: ${issue.message}`, { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
        }
        body = parsed.data;
      }
      const result = await spec.handler({ principal, params: ctx.params as Record<string, string>, body, query: ctx.query, ctx });
      ctx.status = spec.status ?? (result === undefined ? 204 : 200);
      if (result !== undefined) ctx.body = result;
    });
  }

  const openapi = openApiDocument(deps.routes, deps.prefix, deps.issuer);
  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = openapi;
  });
  return router;
}

function openApiDocument(routes: ApiRoute[], prefix: string, issuer: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const path = `${prefix}${spec.path}`.replace(/:(\w+)/g, '{$1}');
    const parameters = [...spec.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] ??= {};
    paths[path][spec.method] = {
      summary: spec.summary,
      tags: [spec.tag],
      security: [{ session: [] }, { bearer: [API_SCOPE[spec.scope]] }, { apiKey: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(spec.body, { io: 'input', unrepresentable: 'any' }) } } } } : {}),
      responses: {
        [String(spec.status ?? 200)]: { description: 'success' },
        '400': { $ref: '#/components/responses/Error' },
        '401': { $ref: '#/components/responses/Error' },
        '403': { $ref: '#/components/responses/Error' },
        '404': { $ref: '#/components/responses/Error' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Latch API', version: '1' },
    servers: [{ url: issuer }],
    paths,
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: '_session' },
        bearer: { type: 'oauth2', flows: { authorizationCode: { authorizationUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, scopes: { 'api:read': 'read', 'api:write': 'change' } } } },
        // also accepted as `Authorization: ApiKey <key>` or `Authorization: Bearer <key>`
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      responses: {
        Error: {
          description: 'an error',
          content: { 'application/json': { schema: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } } } },
        },
      },
    },
  };
}
