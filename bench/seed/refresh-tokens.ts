import type Provider from 'oidc-provider';

/**
 * Mints refresh tokens through the provider's own models (Grant, then RefreshToken), as a
 * finished authorization-code flow would leave them; works with any adapter.
 */
export type RefreshTokenOwner = { clientId: string; accountId: string };

const SCOPE = 'openid offline_access';
const CONCURRENCY = 8;

async function mintOne(provider: Provider, owner: RefreshTokenOwner): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const grant = new provider.Grant({ accountId: owner.accountId, clientId: owner.clientId });
  grant.addOIDCScope(SCOPE);
  const grantId = await grant.save();
  const token = new provider.RefreshToken({
    accountId: owner.accountId,
    clientId: owner.clientId,
    grantId,
    scope: SCOPE,
    gty: 'authorization_code',
    authTime: now,
    iiat: now,
  } as never);
  return token.save();
}

export async function mintRefreshTokens(provider: Provider, owners: RefreshTokenOwner[], count: number): Promise<string[]> {
  const tokens: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      tokens[i] = await mintOne(provider, owners[i % owners.length]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  return tokens;
}
