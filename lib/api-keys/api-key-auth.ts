import type Koa from 'koa';
import type { PrincipalResolver } from '../api/api-auth.js';
import { LatchError } from '../http/errors.js';
import { API_KEY_PREFIX } from './api-key-secrets.js';
import type { ApiKeyService } from './api-keys.service.js';

/**
 * Authenticates Latch's JSON API with an API key, sent as `Authorization: Bearer latch_…`,
 * `Authorization: ApiKey latch_…` or `X-API-Key: latch_…`. A malformed, unknown, revoked or
 * expired key gets one and the same 401, so a caller learns nothing about which it was.
 *
 * A personal key acts for its account; an organization's key acts for no person, only inside
 * its organization (`boundToOrg`). A key limited to another resource has no scope here.
 */
export const invalidApiKey = () => new LatchError('invalid_api_key', 'the API key is malformed, unknown, expired or revoked', 401);

/** The key a request presents, if it presents one in any of the three forms. */
export function presentedApiKey(ctx: Koa.Context): string | undefined {
  const header = ctx.headers['x-api-key'];
  const authorization = ctx.get('authorization');
  if (header !== undefined) {
    if (authorization) throw new LatchError('invalid_request', 'send one credential: X-API-Key or Authorization, not both', 400);
    // an empty or repeated header is a malformed key, not "no key"
    return typeof header === 'string' ? header.trim() : '';
  }
  const apiKeyScheme = /^ApiKey(?:\s+(.*))?$/i.exec(authorization);
  if (apiKeyScheme) return (apiKeyScheme[1] ?? '').trim();
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer && bearer[1]!.startsWith(API_KEY_PREFIX)) return bearer[1];
  return undefined;
}

export function createApiKeyResolver(deps: { apiKeys: ApiKeyService; latchApiIdentifier: string }): PrincipalResolver {
  return async (ctx) => {
    const presented = presentedApiKey(ctx);
    if (presented === undefined) return undefined;
    const key = await deps.apiKeys.verify(presented, 'api', ctx.ip);
    if (!key) throw invalidApiKey();
    const forThisApi = key.resource === null || key.resource === deps.latchApiIdentifier;
    return {
      sub: key.sub,
      authMethod: 'api-key',
      scopes: forThisApi ? key.scopes : [],
      orgId: key.orgId,
      accountId: key.accountId ?? undefined,
      apiKeyId: key.id,
      boundToOrg: key.orgId ?? undefined,
    };
  };
}
