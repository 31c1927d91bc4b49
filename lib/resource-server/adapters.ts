import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from './challenge.js';
import type { AuthInfo, ResourceServer } from './resource-server.js';

/**
 * The kit in three servers: node:http, Koa and Express. Each serves the RFC 9728 metadata
 * (at the path derived from the resource, and at the root well-known path) and protects
 * handlers, leaving the caller's AuthInfo where that framework keeps request state:
 * `req.auth` (node:http and Express — where the MCP SDK's transports look) or
 * `ctx.state.auth` (Koa).
 */
export type ProtectOptions = { scopes?: string[] };
export type AuthenticatedRequest = IncomingMessage & { auth?: AuthInfo };

const ROOT_METADATA_PATH = '/.well-known/oauth-protected-resource';

function isMetadataRequest(rs: ResourceServer, method: string | undefined, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (path === rs.metadataPath || path === ROOT_METADATA_PATH);
}

const METADATA_HEADERS = {
  'content-type': 'application/json',
  'cache-control': 'public, max-age=300',
  'access-control-allow-origin': '*',
};
// browser-based clients must be able to read the challenge
const EXPOSE = { 'access-control-expose-headers': 'WWW-Authenticate' };

function sendNode(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown) {
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

const pathOf = (url: string | undefined) => (url ?? '/').split('?')[0]!;

/** node:http: answers the metadata request and returns true, or returns false. */
export function serveMetadata(rs: ResourceServer, req: IncomingMessage, res: ServerResponse): boolean {
  if (!isMetadataRequest(rs, req.method, pathOf(req.url))) return false;
  sendNode(res, 200, METADATA_HEADERS, rs.metadata);
  return true;
}

/** node:http: authenticates the request; on refusal answers it and returns undefined. */
export async function authenticateNode(rs: ResourceServer, req: IncomingMessage, res: ServerResponse, options: ProtectOptions = {}): Promise<AuthInfo | undefined> {
  const result = await rs.authenticate(req.headers, options.scopes);
  if (result.ok) {
    (req as AuthenticatedRequest).auth = result.auth;
    return result.auth;
  }
  sendNode(res, result.status, { ...result.headers, ...EXPOSE, 'content-type': 'application/json' }, result.body);
  return undefined;
}

/** node:http: a request listener that serves the metadata and protects `handler`. */
export function protectNode(
  rs: ResourceServer,
  handler: (req: AuthenticatedRequest, res: ServerResponse) => unknown,
  options: ProtectOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (serveMetadata(rs, req, res)) return;
    if (await authenticateNode(rs, req, res, options)) await handler(req as AuthenticatedRequest, res);
  };
}

// Koa, typed by shape so the kit needs no Koa at run time
type KoaLikeContext = {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  status: number;
  body: unknown;
  state: Record<string, unknown>;
  set(headers: Record<string, string>): void;
};
type Next = () => Promise<unknown>;

function applyKoaRefusal(ctx: KoaLikeContext, refusal: Refusal) {
  ctx.status = refusal.status;
  ctx.set({ ...refusal.headers, ...EXPOSE });
  ctx.body = refusal.body;
}

/** Koa: serves the metadata; passes everything else on. */
export function koaMetadata(rs: ResourceServer) {
  return async (ctx: KoaLikeContext, next: Next) => {
    if (!isMetadataRequest(rs, ctx.method, ctx.path)) return next();
    ctx.set(METADATA_HEADERS);
    ctx.body = rs.metadata;
  };
}

/** Koa: authenticates, sets ctx.state.auth, or answers 400/401/403/503. */
export function koaProtect(rs: ResourceServer, options: ProtectOptions = {}) {
  return async (ctx: KoaLikeContext, next: Next) => {
    const result = await rs.authenticate(ctx.headers, options.scopes);
    if (!result.ok) return applyKoaRefusal(ctx, result);
    ctx.state.auth = result.auth;
    return next();
  };
}

// Express, typed by shape likewise
type ExpressLikeRequest = IncomingMessage & { path: string; auth?: AuthInfo };
type ExpressLikeResponse = ServerResponse & { status(code: number): ExpressLikeResponse; set(headers: Record<string, string>): ExpressLikeResponse; json(body: unknown): unknown };
type ExpressNext = (err?: unknown) => void;

/** Express: serves the metadata; passes everything else on. */
export function expressMetadata(rs: ResourceServer) {
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: ExpressNext) => {
    if (!isMetadataRequest(rs, req.method, req.path)) return next();
    res.status(200).set(METADATA_HEADERS).json(rs.metadata);
  };
}

/** Express: authenticates, sets req.auth, or answers 400/401/403/503. */
export function expressProtect(rs: ResourceServer, options: ProtectOptions = {}) {
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: ExpressNext) => {
    rs.authenticate(req.headers, options.scopes).then((result) => {
      if (!result.ok) {
        res.status(result.status).set({ ...result.headers, ...EXPOSE }).json(result.body);
        return;
      }
      req.auth = result.auth;
      next();
    }, next);
  };
}
