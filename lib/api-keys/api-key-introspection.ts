import type Koa from 'koa';
import type Provider from 'oidc-provider';
import { onlyOn } from '../http/only-on.js';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { looksLikeApiKey } from './api-key-secrets.js';
import type { ApiKeyService, VerifiedApiKey } from './api-keys.service.js';

/**
 * RFC 7662 introspection of API keys at oidc-provider's own endpoint, so a resource server
 * checks keys and tokens the same way, with the same client credentials.
 *
 * oidc-provider's introspection action (lib/actions/introspection.js) is one fixed pipeline —
 * body, client authentication, then a lookup among its own token models that answers
 * `{ active: false }` for anything else — with no hook for another kind of token. So this
 * middleware lets that pipeline run untouched and only afterwards, when the client has
 * authenticated (any failure has already become an error response) and the answer is
 * "inactive" for a `latch_` token, replaces it with the key's own answer. Public clients may
 * introspect only their own tokens, and an API key is nobody's token, so they keep "inactive".
 */
const epoch = (date: Date) => Math.floor(date.getTime() / 1000);

export function apiKeyIntrospectionResponse(key: VerifiedApiKey, issuer: string) {
  return {
    active: true,
    token_type: 'api_key',
    sub: key.sub,
    scope: key.scopes.join(' '),
    ...(key.orgId ? { org_id: key.orgId } : {}),
    labels: key.labels,
    ...(key.resource ? { aud: key.resource } : {}),
    iat: epoch(key.createdAt),
    exp: epoch(key.expiresAt),
    iss: issuer,
    api_key_id: key.id,
  };
}

export function answerApiKeyIntrospection(provider: Provider, apiKeys: ApiKeyService) {
  provider.use(onlyOn({ paths: [provider.pathFor('introspection')] }, async (ctx: Koa.Context, next: Koa.Next) => {
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    if (oidc?.route !== 'introspection' || ctx.status !== 200) return;
    const answer = ctx.body as { active?: unknown } | undefined;
    if (!answer || typeof answer !== 'object' || answer.active !== false) return;
    const token = (oidc.params as { token?: unknown } | undefined)?.token;
    if (!looksLikeApiKey(token) || !oidc.client || oidc.client.clientAuthMethod === 'none') return;
    const key = await apiKeys.verify(token, 'introspection', ctx.ip);
    if (key) ctx.body = apiKeyIntrospectionResponse(key, provider.issuer);
  }));
}
