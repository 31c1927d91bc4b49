import type Provider from 'oidc-provider';
import { errors, type AccessToken, type TokenEndpointGrantContext } from 'oidc-provider';
import type { AuditService } from '../audit/audit.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import type { ApiKeyService, VerifiedApiKey } from './api-keys.service.js';

/**
 * RFC 8693 token exchange of an API key for a short-lived RFC 9068 JWT access token for one
 * resource, so a resource server's hot path verifies offline against the JWKS.
 *
 *   grant_type=urn:ietf:params:oauth:grant-type:token-exchange
 *   subject_token=<the API key>
 *   subject_token_type=urn:latch:params:oauth:token-type:api-key
 *   resource=<exactly one registered resource the key allows>
 *   scope=<optional, a subset of the key's scopes for that resource>
 *
 * Registered with `provider.registerGrantType`, so oidc-provider's token endpoint has already
 * authenticated the client and checked that its `grant_types` allow this grant. The token is
 * oidc-provider's own AccessToken model, formatted by its JWT format (signed ES256 with the
 * current key, `typ: at+jwt`, `aud` = the resource), the way client_credentials.js formats a
 * resource-bound token; `sub` is the key's owner, `client_id` the exchanging client. Its
 * org_id, labels and api_key_id reach the JWT through `extraTokenClaims`, which consults
 * `exchangedTokenClaims` first (a JWT access token is not stored, so nothing else is written).
 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** Latch's own token type URI for an API key as a subject_token (RFC 8693 §3 allows others). */
export const API_KEY_TOKEN_TYPE = 'urn:latch:params:oauth:token-type:api-key';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Minutes, not hours: a revoked key's exchanged tokens die out within this. */
export const EXCHANGED_TOKEN_TTL_SECONDS = 300;

const PARAMETERS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'audience', 'resource', 'scope'];

type ExchangeParams = {
  subject_token?: string;
  subject_token_type?: string;
  actor_token?: string;
  requested_token_type?: string;
  audience?: string;
  resource?: string | string[];
  scope?: string;
};

/** Claims of tokens being issued by the exchange, by token object; read by extraTokenClaims. */
export function createExchangedTokenClaims() {
  const claims = new WeakMap<object, Record<string, unknown>>();
  return {
    remember(token: object, key: VerifiedApiKey) {
      claims.set(token, { api_key_id: key.id, ...(key.orgId ? { org_id: key.orgId } : {}), ...(Object.keys(key.labels).length ? { labels: key.labels } : {}) });
    },
    lookup: (token: object) => claims.get(token),
  };
}

export type ExchangedTokenClaims = ReturnType<typeof createExchangedTokenClaims>;

export function registerApiKeyExchange(provider: Provider, deps: { apiKeys: ApiKeyService; resources: ResourceService; claims: ExchangedTokenClaims; audit: Pick<AuditService, 'record'> }) {
  const { apiKeys, resources, claims, audit } = deps;

  async function exchange(ctx: TokenEndpointGrantContext<ExchangeParams>) {
    const { client, params } = ctx.oidc;
    if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('token exchange needs a client that authenticates (a confidential client)');
    if ((client as { dpopBoundAccessTokens?: boolean }).dpopBoundAccessTokens) throw new errors.InvalidRequest('token exchange issues bearer tokens; this client requires DPoP-bound tokens');
    if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
    if (params.subject_token_type !== API_KEY_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${API_KEY_TOKEN_TYPE}`);
    if (params.actor_token !== undefined) throw new errors.InvalidRequest('actor tokens are not supported');
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    if (params.audience !== undefined) throw new errors.InvalidTarget('name the resource with the resource parameter');
    const requested = params.resource === undefined ? [] : [params.resource].flat();
    if (requested.length !== 1) throw new errors.InvalidTarget('exactly one resource is required');

    // RFC 8693 §2.2.2: an unacceptable subject_token is invalid_request
    const key = await apiKeys.verify(params.subject_token, 'token_exchange', ctx.ip);
    if (!key) throw new errors.InvalidRequest('subject_token is malformed, unknown, expired or revoked');

    const resource = await resources.find(requested[0]!);
    if (!resource) throw new errors.InvalidTarget('unknown resource');
    // Latch's API takes the key itself; a bearer token for it would act as a person and could
    // mint new keys, which a key must never be able to do
    if (resource.builtIn) throw new errors.InvalidTarget("Latch's own API takes the API key directly; exchange it for other resources");
    if (key.resource !== null && key.resource !== resource.identifier) throw new errors.InvalidTarget('the API key is not valid for this resource');

    const allowed = key.scopes.filter((s) => resource.scopes.includes(s));
    const scopes = params.scope ? [...new Set(params.scope.split(' ').filter(Boolean))] : allowed;
    const beyond = scopes.filter((s) => !allowed.includes(s));
    if (beyond.length) throw new errors.InvalidScope('requested scope is not granted to the API key for this resource', beyond.join(' '));
    if (!scopes.length) throw new errors.InvalidScope('the API key has no scope for this resource', '');

    // never outlive the key itself
    const ttl = Math.max(1, Math.min(EXCHANGED_TOKEN_TTL_SECONDS, resource.accessTokenTtl ?? EXCHANGED_TOKEN_TTL_SECONDS, Math.floor((key.expiresAt.getTime() - Date.now()) / 1000)));
    const resourceServer = new provider.ResourceServer(resource.identifier, {
      scope: resource.scopes.join(' '),
      audience: resource.identifier,
      accessTokenTTL: ttl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'ES256' } },
    });
    const token: AccessToken = new provider.AccessToken({
      client,
      accountId: key.sub,
      gty: TOKEN_EXCHANGE_GRANT,
      scope: scopes.join(' '),
      resourceServer,
      expiresIn: ttl,
    } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
    claims.remember(token, key);
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();

    await audit.record({ type: 'api_key.exchanged', actor: `api-key:${key.id}`, subject: key.id, clientId: client.clientId, details: { prefix: key.prefix, resource: resource.identifier, scope: token.scope } });
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: ttl,
      scope: token.scope,
    };
  }

  // `resource` may repeat on the wire so that two of them get invalid_target, not a generic error
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, exchange, PARAMETERS, ['resource']);
}
