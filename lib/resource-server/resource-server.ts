import crypto from 'node:crypto';
import * as jose from 'jose';
import { refuse, type Refusal } from './challenge.js';
import { readCredential, type HeaderBag } from './credentials.js';

/**
 * Protects an API or MCP server with Latch: RFC 9728 metadata for the resource, offline
 * verification of RFC 9068 JWT access tokens against Latch's JWKS (cached by jose, fetched
 * again for an unknown `kid`), `iss`/`aud`/`exp`/`typ` and scope checks, and Latch API keys by
 * introspection (RFC 7662) or exchange (RFC 8693) for a JWT. Framework-free; see adapters.ts.
 */
export type ResourceServerOptions = {
  /** Latch's issuer URL, exactly as in its discovery document */
  issuer: string;
  /** this server's resource identifier, registered in Latch (`latch resources add URL`) */
  resource: string;
  /** scopes this resource defines (advertised in its metadata) */
  scopesSupported?: string[];
  /** scopes every request must carry unless an adapter is given its own list */
  requiredScopes?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
  /** accept Latch API keys, checked with this client's credentials */
  apiKeys?: {
    clientId: string;
    clientSecret: string;
    /** introspection (default): every request asks Latch; exchange: one short JWT per key, reused until it expires */
    via?: 'introspection' | 'exchange';
  };
  /** how long an unknown `kid` waits before the JWKS is fetched again (default 30 s) */
  jwksCooldownSeconds?: number;
  clockToleranceSeconds?: number;
  /** injectable for runtimes with their own fetch */
  fetch?: typeof fetch;
};

/** What a request was authenticated as; the same shape as the MCP SDK's AuthInfo. */
export type AuthInfo = {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra: { kind: 'jwt' | 'api-key'; sub?: string; orgId?: string; claims: Record<string, unknown> };
};

export type AuthResult = { ok: true; auth: AuthInfo } | ({ ok: false } & Refusal);

export type ResourceServer = {
  readonly resource: string;
  readonly metadata: Record<string, unknown>;
  /** path of the metadata document on this server (RFC 9728 §3.1) */
  readonly metadataPath: string;
  readonly metadataUrl: string;
  /** checks a request's headers; `scopes` defaults to options.requiredScopes */
  authenticate(headers: HeaderBag, scopes?: string[]): Promise<AuthResult>;
};

/** JWT access tokens are signed with asymmetric keys only. */
const ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];
const API_KEY_TOKEN_TYPE = 'urn:latch:params:oauth:token-type:api-key';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** an exchanged JWT is reused until this many seconds before it expires */
const EXCHANGE_REUSE_MARGIN = 30;
const EXCHANGE_CACHE_MAX = 1000;

class InvalidToken extends Error {}

type AuthorizationServer = { jwks_uri: string; token_endpoint?: string; introspection_endpoint?: string };

function wellKnown(base: string, suffix: string): string {
  const url = new URL(base);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/${suffix}${path}`;
}

function describeJoseError(err: unknown): string {
  if (err instanceof jose.errors.JWTExpired) return 'the access token expired';
  if (err instanceof jose.errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'the access token is for another audience';
    if (err.claim === 'iss') return 'the access token is from another issuer';
    if (err.claim === 'typ') return 'not an access token';
    return `the access token's ${err.claim} claim is invalid`;
  }
  if (err instanceof jose.errors.JWSSignatureVerificationFailed) return 'the access token signature is invalid';
  if (err instanceof jose.errors.JWKSNoMatchingKey || err instanceof jose.errors.JWKSMultipleMatchingKeys) return 'the access token is signed with an unknown key';
  if (err instanceof jose.errors.JOSEAlgNotAllowed) return 'the access token is signed with a refused algorithm';
  return 'the access token is malformed';
}

const basicAuth = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const issuer = options.issuer;
  const resource = options.resource;
  const resourceUrl = new URL(resource);
  const doFetch = options.fetch ?? fetch;
  const required = options.requiredScopes ?? [];
  const metadataPath = new URL(wellKnown(resource, 'oauth-protected-resource')).pathname;
  const metadataUrl = `${resourceUrl.origin}${metadataPath}`;
  const metadata = {
    resource,
    authorization_servers: [issuer],
    ...(options.scopesSupported ? { scopes_supported: options.scopesSupported } : {}),
    bearer_methods_supported: ['header'],
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
    ...(options.resourceDocumentation ? { resource_documentation: options.resourceDocumentation } : {}),
  };

  // Latch's RFC 8414 metadata, fetched once (again after a failure)
  let serverMetadata: Promise<AuthorizationServer> | undefined;
  let keySet: ReturnType<typeof jose.createRemoteJWKSet> | undefined;
  async function authorizationServer(): Promise<AuthorizationServer> {
    serverMetadata ??= (async () => {
      const res = await doFetch(wellKnown(issuer, 'oauth-authorization-server'), { headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`authorization server metadata: HTTP ${res.status}`);
      const body = (await res.json()) as AuthorizationServer & { issuer?: string };
      if (body.issuer !== issuer) throw new Error('authorization server metadata names another issuer');
      if (typeof body.jwks_uri !== 'string') throw new Error('authorization server metadata has no jwks_uri');
      return body;
    })().catch((err) => {
      serverMetadata = undefined;
      throw err;
    });
    return serverMetadata;
  }
  async function keys() {
    if (!keySet) {
      const as = await authorizationServer();
      keySet = jose.createRemoteJWKSet(new URL(as.jwks_uri), {
        cooldownDuration: (options.jwksCooldownSeconds ?? 30) * 1000,
        ...(options.fetch ? { [jose.customFetch]: options.fetch } : {}),
      });
    }
    return keySet;
  }

  async function verifyJwt(token: string): Promise<AuthInfo> {
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, await keys(), {
        issuer,
        audience: resource,
        typ: 'at+jwt',
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        clockTolerance: options.clockToleranceSeconds ?? 5,
      }));
    } catch (err) {
      // an unreachable or broken JWKS says nothing about the token: answered 503, not 401
      if (err instanceof jose.errors.JWKSTimeout || err instanceof jose.errors.JWKSInvalid) throw err;
      if (err instanceof jose.errors.JOSEError) throw new InvalidToken(describeJoseError(err));
      throw err;
    }
    // a DPoP- or mTLS-bound token is not a bearer token (RFC 9449 §7.1)
    if (payload.cnf) throw new InvalidToken('a sender-constrained token was presented as a bearer token');
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    return {
      token,
      clientId: typeof payload.client_id === 'string' ? payload.client_id : '',
      scopes,
      expiresAt: payload.exp,
      resource: resourceUrl,
      extra: {
        kind: 'jwt',
        sub: payload.sub,
        orgId: typeof payload.org_id === 'string' ? payload.org_id : undefined,
        claims: payload as Record<string, unknown>,
      },
    };
  }

  async function postForm(url: string, form: Record<string, string>) {
    const { clientId, clientSecret } = options.apiKeys!;
    return doFetch(url, {
      method: 'POST',
      headers: { authorization: basicAuth(clientId, clientSecret), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form),
    });
  }

  async function introspectApiKey(key: string): Promise<AuthInfo> {
    const as = await authorizationServer();
    if (!as.introspection_endpoint) throw new Error('the authorization server has no introspection endpoint');
    const res = await postForm(as.introspection_endpoint, { token: key });
    if (!res.ok) throw new Error(`introspection: HTTP ${res.status}`);
    const answer = (await res.json()) as Record<string, unknown>;
    if (answer.active !== true || answer.token_type !== 'api_key') throw new InvalidToken('the API key is not valid');
    const aud = answer.aud;
    if (aud !== undefined && aud !== resource && !(Array.isArray(aud) && aud.includes(resource))) {
      throw new InvalidToken('the API key is for another resource');
    }
    const exp = typeof answer.exp === 'number' ? answer.exp : undefined;
    if (exp !== undefined && exp <= Date.now() / 1000) throw new InvalidToken('the API key expired');
    return {
      token: key,
      clientId: typeof answer.api_key_id === 'string' ? answer.api_key_id : '',
      scopes: typeof answer.scope === 'string' ? answer.scope.split(' ').filter(Boolean) : [],
      expiresAt: exp,
      resource: resourceUrl,
      extra: { kind: 'api-key', sub: answer.sub as string | undefined, orgId: answer.org_id as string | undefined, claims: answer },
    };
  }

  // key hash -> exchanged JWT; never the key itself
  const exchanged = new Map<string, { jwt: string; exp: number }>();
  async function exchangeApiKey(key: string): Promise<AuthInfo> {
    const cacheKey = crypto.createHash('sha256').update(key).digest('base64url');
    const cached = exchanged.get(cacheKey);
    const now = Date.now() / 1000;
    let jwt = cached && cached.exp - EXCHANGE_REUSE_MARGIN > now ? cached.jwt : undefined;
    if (!jwt) {
      const as = await authorizationServer();
      if (!as.token_endpoint) throw new Error('the authorization server has no token endpoint');
      const res = await postForm(as.token_endpoint, { grant_type: TOKEN_EXCHANGE, subject_token: key, subject_token_type: API_KEY_TOKEN_TYPE, resource });
      const answer = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string };
      if (res.status === 400 && answer.error) throw new InvalidToken('the API key is not valid for this resource');
      if (!res.ok || typeof answer.access_token !== 'string') throw new Error(`token exchange: HTTP ${res.status}`);
      jwt = answer.access_token;
      if (exchanged.size >= EXCHANGE_CACHE_MAX) exchanged.delete(exchanged.keys().next().value!);
      exchanged.set(cacheKey, { jwt, exp: now + (answer.expires_in ?? 0) });
    }
    const auth = await verifyJwt(jwt);
    return { ...auth, token: key, extra: { ...auth.extra, kind: 'api-key' } };
  }

  return {
    resource,
    metadata,
    metadataPath,
    metadataUrl,
    async authenticate(headers, scopes = required) {
      const context = { resourceMetadata: metadataUrl, scope: scopes.length ? scopes.join(' ') : undefined };
      const credential = readCredential(headers);
      if (credential.kind === 'none') return { ok: false, ...refuse(401, undefined, 'an access token is required', context) };
      if (credential.kind === 'malformed') return { ok: false, ...refuse(400, 'invalid_request', credential.reason, context) };
      let auth: AuthInfo;
      try {
        if (credential.kind === 'api-key') {
          if (!options.apiKeys) throw new InvalidToken('API keys are not accepted here');
          auth = options.apiKeys.via === 'exchange' ? await exchangeApiKey(credential.value) : await introspectApiKey(credential.value);
        } else {
          auth = await verifyJwt(credential.value);
        }
      } catch (err) {
        if (err instanceof InvalidToken) return { ok: false, ...refuse(401, 'invalid_token', err.message, context) };
        // Latch unreachable or answering oddly: the caller may retry, the token may be fine
        return { ok: false, ...refuse(503, 'temporarily_unavailable', 'the authorization server could not be reached', context) };
      }
      const missing = scopes.filter((s) => !auth.scopes.includes(s));
      if (missing.length) return { ok: false, ...refuse(403, 'insufficient_scope', `missing scope: ${missing.join(' ')}`, context) };
      return { ok: true, auth };
    },
  };
}
