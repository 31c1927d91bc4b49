import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { AccountService } from '../accounts/accounts.service.js';
import { LatchError, unauthenticated } from '../http/errors.js';
import { LATCH_API_SCOPES } from '../resources/resources.service.js';
import type { VerifiedAccessToken } from './access-token-verifier.js';

/**
 * Who is calling Latch's JSON API: a browser session (the oidc-provider session cookie), or a
 * bearer access token whose audience is this API. A cookie-authenticated write must also come
 * from a trusted origin (SECURITY.md E.36); bearer calls carry no ambient credentials.
 */
export type Principal = {
  sub: string;
  authMethod: 'session' | 'bearer' | 'api-key';
  scopes: string[];
  orgId: string | null;
  clientId?: string;
  /** the account behind the call; absent for a client acting for itself (client_credentials) */
  accountId?: string;
  sessionUid?: string;
  authTime?: number;
  /** the API key the call came with (authMethod "api-key") */
  apiKeyId?: string;
  /** the one organization the caller may act in (an organization's API key); any other is 404 */
  boundToOrg?: string;
};

/** Lets other features (API keys) add a way to authenticate; the first that answers wins. */
export type PrincipalResolver = (ctx: Koa.Context) => Promise<Principal | undefined>;

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function createApiAuthenticator(deps: {
  provider: Provider;
  accounts: AccountService;
  verifyAccessToken: (token: string) => Promise<VerifiedAccessToken | undefined>;
  activeOrgOf: (accountId: string) => Promise<string | null>;
  allowedOrigins: string[];
  extraResolvers?: PrincipalResolver[];
}) {
  const { provider, accounts } = deps;
  const allowed = new Set(deps.allowedOrigins);

  async function fromBearer(ctx: Koa.Context): Promise<Principal | undefined> {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    if (!match) return undefined;
    const token = match[1]!;
    if (token.split('.').length !== 3) return undefined;
    const verified = await deps.verifyAccessToken(token);
    if (!verified) throw new LatchError('invalid_token', 'the access token is invalid or expired', 401);
    // a client acting for itself has its own client_id as sub: it is never an account's token
    const ownToken = verified.clientId !== undefined && verified.sub === verified.clientId;
    const account = ownToken ? undefined : await accounts.findClaims(verified.sub);
    if (account?.disabled) throw new LatchError('invalid_token', 'the access token is invalid or expired', 401);
    return {
      sub: verified.sub,
      authMethod: 'bearer',
      scopes: verified.scopes,
      orgId: verified.orgId,
      clientId: verified.clientId,
      accountId: account?.id,
    };
  }

  /** The signed-in person of this browser, if any (no CSRF check: callers add their own). */
  async function readSession(ctx: Koa.Context): Promise<Principal | undefined> {
    const sessionId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    if (!sessionId || sessionId.length > 100) return undefined;
    const session = await provider.Session.find(sessionId);
    if (!session?.accountId) return undefined;
    const account = await accounts.findClaims(session.accountId);
    if (!account || account.disabled) return undefined;
    return {
      sub: account.id,
      authMethod: 'session',
      scopes: [...LATCH_API_SCOPES],
      orgId: await deps.activeOrgOf(account.id),
      accountId: account.id,
      sessionUid: session.uid,
      authTime: session.authTime(),
    };
  }

  async function fromSession(ctx: Koa.Context): Promise<Principal | undefined> {
    const principal = await readSession(ctx);
    if (principal && UNSAFE.has(ctx.method)) {
      const origin = ctx.get('origin');
      const site = ctx.get('sec-fetch-site');
      const trusted = (origin && allowed.has(origin)) || (!origin && site === 'same-origin') || (origin === 'null' && site === 'same-origin');
      if (!trusted) throw new LatchError('csrf_failed', 'cookie-authenticated changes must come from a trusted origin', 403);
    }
    return principal;
  }

  async function authenticate(ctx: Koa.Context): Promise<Principal> {
    for (const resolve of [...(deps.extraResolvers ?? []), fromBearer, fromSession]) {
      const principal = await resolve(ctx);
      if (principal) return principal;
    }
    throw unauthenticated('sign in, or send a bearer token for this API');
  }

  return Object.assign(authenticate, { readSession });
}
