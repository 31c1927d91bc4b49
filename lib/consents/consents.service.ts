import type { ConsentQueries } from './consents.queries.js';

/**
 * What a person has allowed each app, remembered across sessions (per account and client),
 * so the consent page appears only when an app asks for something new.
 */
export type Consent = { clientId: string; scopes: string[]; resourceScopes: Record<string, string[]>; updatedAt: Date };

const split = (value: string | undefined) => (value ?? '').split(' ').filter(Boolean);
const union = (a: string[], b: string[]) => [...new Set([...a, ...b])];

export type ConsentService = ReturnType<typeof createConsentService>;

export function createConsentService(deps: { queries: ConsentQueries }) {
  const { queries } = deps;
  return {
    async find(accountId: string, clientId: string): Promise<Consent | undefined> {
      const row = await queries.find(accountId, clientId);
      if (!row) return undefined;
      return {
        clientId: row.client_id,
        scopes: row.scopes,
        resourceScopes: Object.fromEntries(Object.entries(row.resource_scopes).map(([k, v]) => [k, split(v)])),
        updatedAt: row.updated_at,
      };
    },

    /** Adds what was just allowed to what was allowed before. */
    async remember(accountId: string, clientId: string, allowed: { scopes: string[]; resourceScopes: Record<string, string[]> }) {
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
      });
    },
  };
}
