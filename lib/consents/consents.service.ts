import type { Knex } from 'knex';
import type { OidcPayloadQueries } from '../oidc/oidc-payloads.queries.js';
import type { ConsentQueries } from './consents.queries.js';

/**
 * What a person has allowed each app, remembered across sessions (per account and client),
 * so the consent page appears only when an app asks for something new.
 */
export type Consent = { clientId: string; scopes: string[]; resourceScopes: Record<string, string[]>; orgId: string | null; updatedAt: Date };

const split = (value: string | undefined) => (value ?? '').split(' ').filter(Boolean);
const union = (a: string[], b: string[]) => [...new Set([...a, ...b])];

export type ConsentService = ReturnType<typeof createConsentService>;

export function createConsentService(deps: { knex: Knex; queries: ConsentQueries; payloads: OidcPayloadQueries }) {
  const { knex, queries, payloads } = deps;
  return {
    async find(accountId: string, clientId: string): Promise<Consent | undefined> {
      const row = await queries.find(accountId, clientId);
      if (!row) return undefined;
      return {
        clientId: row.client_id,
        scopes: row.scopes,
        resourceScopes: Object.fromEntries(Object.entries(row.resource_scopes).map(([k, v]) => [k, split(v)])),
        orgId: row.org_id,
        updatedAt: row.updated_at,
      };
    },

    async list(accountId: string): Promise<Consent[]> {
      const rows = await queries.listForAccount(accountId);
      return Promise.all(rows.map(async (row) => (await this.find(accountId, row.client_id))!));
    },

    /** Forgets what the app was allowed and ends its grants and tokens for this account at once. */
    async revoke(accountId: string, clientId: string): Promise<boolean> {
      return knex.transaction(async (trx) => {
        const removed = await queries.delete(accountId, clientId, trx);
        const ended = await payloads.deleteForAccountAndClient(accountId, clientId, trx);
        return removed + ended > 0;
      });
    },

    /** Adds what was just allowed to what was allowed before. */
    async remember(accountId: string, clientId: string, allowed: { scopes: string[]; resourceScopes: Record<string, string[]>; orgId?: string | null }) {
      const previous = await this.find(accountId, clientId);
      const resourceScopes: Record<string, string> = {};
      for (const resource of new Set([...Object.keys(previous?.resourceScopes ?? {}), ...Object.keys(allowed.resourceScopes)])) {
        resourceScopes[resource] = union(previous?.resourceScopes[resource] ?? [], allowed.resourceScopes[resource] ?? []).join(' ');
      }
      await queries.upsert({
        account_id: accountId,
        client_id: clientId,
        scopes: union(previous?.scopes ?? [], allowed.scopes),
        resource_scopes: resourceScopes,
        org_id: allowed.orgId ?? previous?.orgId ?? null,
      });
    },
  };
}
