import type { ChangeFeed } from '../db/change-feed.js';
import type { AccountService } from '../accounts/accounts.service.js';
import type { ClientQueries } from '../clients/clients.queries.js';
import type { ConsentService } from '../consents/consents.service.js';
import { conflict, invalidInput, LatchError, notFound } from '../http/errors.js';
import type { OidcPayloadQueries } from '../oidc/oidc-payloads.queries.js';
import type { OrgService } from '../orgs/orgs.service.js';

/**
 * What a signed-in person manages about themselves: profile, sessions, connected apps, and
 * deleting the account (SECURITY.md E.34: logout and delete end sessions and revoke grants).
 */
const NAME_MAX = 200;

export class SoleOwnerError extends LatchError {
  constructor(readonly organizations: Array<{ id: string; name: string }>) {
    super('sole_owner', 'You are the only owner of organizations that have other members: transfer their ownership or delete them first.', 409, { organizations });
  }
}

export type MeService = ReturnType<typeof createMeService>;

export function createMeService(deps: {
  changes: ChangeFeed;
  accounts: AccountService;
  orgs: OrgService;
  consents: ConsentService;
  payloads: OidcPayloadQueries;
  clients: ClientQueries;
}) {
  const { changes, accounts, orgs, consents, payloads, clients } = deps;

  return {
    async profile(accountId: string) {
      const account = await accounts.findById(accountId);
      if (!account) throw notFound('account');
      const organizations = await orgs.list(accountId);
      return {
        sub: account.id,
        email: account.email,
        emailVerified: account.emailVerified,
        name: account.name,
        isAdmin: account.isAdmin,
        createdAt: account.createdAt,
        activeOrganization: organizations.find((o) => o.active) ?? null,
        memberships: organizations.map((o) => ({ orgId: o.id, name: o.name, role: o.role, personal: o.personal })),
      };
    },

    async updateProfile(accountId: string, input: { name?: unknown }) {
      if (input.name !== undefined) {
        if (typeof input.name !== 'string' || input.name.length > NAME_MAX || /[\u0000-\u001f]/.test(input.name)) {
          throw invalidInput(`name must be at most ${NAME_MAX} printable characters`);
        }
        await accounts.setName(accountId, input.name.trim() || null);
      }
      return this.profile(accountId);
    },

    async sessions(accountId: string, currentUid?: string) {
      const rows = await payloads.sessionsOf(accountId);
      return rows
        .map((row) => {
          const p = row.payload as { uid: string; loginTs?: number; amr?: string[]; authorizations?: Record<string, unknown> };
          return {
            id: p.uid,
            current: p.uid === currentUid,
            signedInAt: p.loginTs ? new Date(p.loginTs * 1000) : null,
            expiresAt: row.expires_at,
            amr: p.amr ?? [],
            clients: Object.keys(p.authorizations ?? {}),
          };
        })
        .sort((a, b) => Number(b.signedInAt ?? 0) - Number(a.signedInAt ?? 0));
    },

    async endSession(accountId: string, sessionId: unknown) {
      if (typeof sessionId !== 'string' || sessionId.length > 100 || !(await payloads.deleteSession(accountId, sessionId))) throw notFound('session');
    },

    async endOtherSessions(accountId: string, currentUid: string | undefined) {
      let ended = 0;
      for (const session of await this.sessions(accountId)) {
        if (session.id !== currentUid) ended += await payloads.deleteSession(accountId, session.id);
      }
      return { ended };
    },

    /** "Sign out everywhere": every session, grant, code and token of the account, at once. */
    async signOutEverywhere(accountId: string) {
      return { ended: await payloads.deleteAllForAccount(accountId) };
    },

    async connectedApps(accountId: string) {
      const list = await consents.list(accountId);
      return Promise.all(
        list.map(async (c) => {
          const client = await clients.find(c.clientId);
          return {
            clientId: c.clientId,
            name: (client?.metadata.client_name as string | undefined) ?? c.clientId,
            dynamic: client?.source === 'dynamic',
            scopes: c.scopes,
            resourceScopes: c.resourceScopes,
            orgId: c.orgId,
            updatedAt: c.updatedAt,
          };
        }),
      );
    },

    async revokeApp(accountId: string, clientId: unknown) {
      if (typeof clientId !== 'string' || clientId.length > 2048 || !(await consents.revoke(accountId, clientId))) throw notFound('connected app');
    },

    /**
     * Deletes the account with its sessions, grants, tokens, memberships, factors and keys.
     * Organizations it alone belongs to go with it; ones it alone owns but others belong to
     * must be handed over first (409 lists them).
     */
    async deleteAccount(accountId: string) {
      const blocking = await orgs.soleOwnedWithOthers(accountId);
      if (blocking.length) throw new SoleOwnerError(blocking);
      await changes.transaction(async (trx, announce) => {
        await announce('organizations', await orgs.deleteSoleOrganizations(accountId, trx));
        await payloads.deleteAllForAccount(accountId, trx);
        const n = await trx('accounts').where({ id: accountId }).delete();
        if (n !== 1) throw conflict('the account was already deleted');
        await announce('accounts', [accountId]);
      });
    },
  };
}
