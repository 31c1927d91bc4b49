import crypto from 'node:crypto';
import { z } from 'zod';
import { invalidInput, notFound } from '../http/errors.js';
import type { ClientQueries, ClientRow } from './clients.queries.js';

/**
 * Clients created by admins (CLI, console). Dynamically registered clients arrive through
 * oidc-provider's registration endpoint and the adapter; both end up in the same table and
 * go through the same metadata validation (oidc-provider's schema plus Latch's policy).
 */
const CLIENT_ID_BYTES = 18; // 144 bits
const CLIENT_SECRET_BYTES = 32; // 256 bits

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange'] as const;

const createSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).default(['authorization_code', 'refresh_token']),
  redirectUris: z.array(z.string().max(2048)).max(50).default([]),
  postLogoutRedirectUris: z.array(z.string().max(2048)).max(50).default([]),
  scope: z.string().max(2048).optional(),
  public: z.boolean().default(false),
  applicationType: z.enum(['web', 'native']).optional(),
});

export type CreateClientInput = z.input<typeof createSchema>;

/** Validates metadata the way oidc-provider will read it; supplied by the composition root. */
export type ClientMetadataValidator = (metadata: Record<string, unknown>) => Promise<void>;

export type ClientSummary = {
  clientId: string;
  name: string | null;
  source: ClientRow['source'];
  public: boolean;
  grantTypes: string[];
  redirectUris: string[];
  scope: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
};

function summarise(row: ClientRow): ClientSummary {
  const m = row.metadata as Record<string, unknown> & { grant_types?: string[]; redirect_uris?: string[] };
  return {
    clientId: row.client_id,
    name: (m.client_name as string | undefined) ?? null,
    source: row.source,
    public: m.token_endpoint_auth_method === 'none',
    grantTypes: m.grant_types ?? ['authorization_code'],
    redirectUris: m.redirect_uris ?? [],
    scope: (m.scope as string | undefined) ?? null,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

function looksNative(uris: string[]): boolean {
  return uris.some((uri) => {
    const url = URL.parse(uri);
    return !!url && url.protocol !== 'https:' && url.protocol !== 'http:';
  });
}

/** A client id as given by an admin: anything that cannot be one (NUL, huge) is simply not found. */
function clientIdOrNotFound(clientId: unknown): string {
  if (typeof clientId !== 'string' || !clientId || clientId.length > 2048 || clientId.includes('\u0000')) throw notFound('client');
  return clientId;
}

export type ClientService = ReturnType<typeof createClientService>;

export function createClientService(deps: { queries: ClientQueries; validate: ClientMetadataValidator }) {
  const { queries, validate } = deps;

  return {
    async create(input: CreateClientInput): Promise<{ clientId: string; clientSecret?: string }> {
      const parsed = createSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw invalidInput(`${issue.path.join('.') || 'input'}: ${issue.message}`);
      }
      const p = parsed.data;
      const clientId = crypto.randomBytes(CLIENT_ID_BYTES).toString('base64url');
      const clientSecret = p.public ? undefined : crypto.randomBytes(CLIENT_SECRET_BYTES).toString('base64url');
      const usesRedirects = p.grantTypes.includes('authorization_code');
      const metadata: Record<string, unknown> = {
        client_id: clientId,
        client_name: p.name,
        grant_types: p.grantTypes,
        response_types: usesRedirects ? ['code'] : [],
        redirect_uris: p.redirectUris,
        post_logout_redirect_uris: p.postLogoutRedirectUris,
        token_endpoint_auth_method: p.public ? 'none' : 'client_secret_basic',
        application_type: p.applicationType ?? (looksNative(p.redirectUris) ? 'native' : 'web'),
        client_id_issued_at: Math.floor(Date.now() / 1000),
        ...(p.scope ? { scope: p.scope } : {}),
        ...(clientSecret ? { client_secret: clientSecret, client_secret_expires_at: 0 } : {}),
      };
      await validate(metadata);
      await queries.insert(clientId, metadata, 'admin');
      return clientSecret ? { clientId, clientSecret } : { clientId };
    },

    async list(): Promise<ClientSummary[]> {
      return (await queries.list()).map(summarise);
    },

    async show(clientId: string): Promise<ClientSummary & { metadata: Record<string, unknown> }> {
      const row = await queries.find(clientIdOrNotFound(clientId));
      if (!row) throw notFound(`client ${clientId}`);
      const { client_secret: _secret, ...metadata } = row.metadata;
      return { ...summarise(row), metadata };
    },

    async update(clientId: string, changes: { name?: string; redirectUris?: string[]; postLogoutRedirectUris?: string[]; scope?: string }) {
      const row = await queries.find(clientIdOrNotFound(clientId));
      if (!row) throw notFound(`client ${clientId}`);
      const metadata = { ...row.metadata };
      if (changes.name !== undefined) metadata.client_name = changes.name;
      if (changes.redirectUris !== undefined) metadata.redirect_uris = changes.redirectUris;
      if (changes.postLogoutRedirectUris !== undefined) metadata.post_logout_redirect_uris = changes.postLogoutRedirectUris;
      if (changes.scope !== undefined) metadata.scope = changes.scope;
      await validate(metadata);
      await queries.updateMetadata(clientId, metadata);
      return this.show(clientId);
    },

    async rotateSecret(clientId: string): Promise<{ clientId: string; clientSecret: string }> {
      const row = await queries.find(clientIdOrNotFound(clientId));
      if (!row) throw notFound(`client ${clientId}`);
      if (row.metadata.token_endpoint_auth_method === 'none') throw invalidInput('a public client has no secret to rotate');
      const clientSecret = crypto.randomBytes(CLIENT_SECRET_BYTES).toString('base64url');
      await queries.updateMetadata(clientId, { ...row.metadata, client_secret: clientSecret });
      return { clientId, clientSecret };
    },

    async delete(clientId: string): Promise<void> {
      if (!(await queries.delete(clientIdOrNotFound(clientId)))) throw notFound(`client ${clientId}`);
    },
  };
}
