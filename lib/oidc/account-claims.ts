import type { Account as OidcAccount, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { AccountService } from '../accounts/accounts.service.js';
import type { ConsentService } from '../consents/consents.service.js';

/** findAccount for oidc-provider: a disabled or deleted account has no claims and no tokens. */
export function createFindAccount(accounts: AccountService): FindAccount {
  return async (_ctx, sub): Promise<OidcAccount | undefined> => {
    const account = await accounts.findClaims(sub);
    if (!account || account.disabled) return undefined;
    return {
      accountId: account.id,
      async claims() {
        return {
          sub: account.id,
          email: account.email,
          email_verified: account.emailVerified,
          ...(account.name ? { name: account.name } : {}),
        };
      },
    };
  };
}

/**
 * The grant for this request: the one this browser session holds for the client, or else one
 * rebuilt from what the person allowed that client before (remembered consent).
 */
export function createLoadExistingGrant(consents: ConsentService, firstPartyClients: ReadonlySet<string> = new Set()) {
  return async (ctx: KoaContextWithOIDC) => {
    const clientId = ctx.oidc.client!.clientId;
    // Latch's own pages need no consent from the person: they are the server itself
    if (firstPartyClients.has(clientId) && ctx.oidc.session?.accountId) {
      const grant = new ctx.oidc.provider.Grant({ accountId: ctx.oidc.session.accountId, clientId });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    }
    const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId ?? ctx.oidc.session!.grantIdFor(clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const accountId = ctx.oidc.session!.accountId;
    if (!accountId) return undefined;
    const remembered = await consents.find(accountId, clientId);
    if (!remembered) return undefined;
    const grant = new ctx.oidc.provider.Grant({ accountId, clientId });
    if (remembered.scopes.length) grant.addOIDCScope(remembered.scopes.join(' '));
    for (const [resource, scopes] of Object.entries(remembered.resourceScopes)) {
      if (scopes.length) grant.addResourceScope(resource, scopes.join(' '));
    }
    await grant.save();
    return grant;
  };
}
