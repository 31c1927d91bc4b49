import Provider, { errors, type Adapter, type ClientMetadata, type Configuration } from 'oidc-provider';
// oidc-provider's own in-memory adapter (the one it uses when none is configured), wrapped
// here only to count its writes; the package lists no exports, so the file is reachable
// @ts-expect-error -- no type declarations for this internal module
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { PROTOCOL_ROUTES, SUPPORTED_SCOPES } from '../../lib/oidc/provider.js';

/**
 * The ceiling: stock oidc-provider with its in-memory adapter (no `adapter` given), the
 * same routes, scopes, grants, features, lifetimes, keys, clients and resource servers as
 * Latch — and none of Latch's own code around it. What Latch adds costs whatever separates
 * the two.
 */
export type CeilingResource = { identifier: string; scopes: string[]; tokenFormat: 'jwt' | 'opaque'; accessTokenTtl: number | null };

export type CeilingInput = {
  issuer: string;
  jwks: { keys: Record<string, unknown>[] };
  cookieKeys: string[];
  clients: ClientMetadata[];
  resources: CeilingResource[];
  /** the people who sign in (scenarios 6 and 7) and the one argon2id hash they share */
  people: { accountId: string; email: string }[];
  passwordHash: string;
  ttl: { accessToken: number; clientCredentials: number; refreshToken: number; idToken: number; deviceCode: number; session: number; grant: number };
};

/** Writes of the in-memory adapter (upsert, consume, destroy, revokeByGrantId) by model. */
export type WriteRecorder = { active: boolean; record(kind: string): void };

function countingMemoryAdapter(recorder: WriteRecorder) {
  const memory = createMemoryAdapter(0) as (model: string) => Adapter;
  return (model: string): Adapter => {
    const inner = memory(model);
    const count = (op: string) => {
      if (recorder.active) recorder.record(`${op} ${model}`);
    };
    return {
      upsert: (id, payload, expiresIn) => (count('upsert'), inner.upsert(id, payload, expiresIn)),
      find: (id) => inner.find(id),
      findByUserCode: (userCode) => inner.findByUserCode(userCode),
      findByUid: (uid) => inner.findByUid(uid),
      consume: (id) => (count('consume'), inner.consume(id)),
      destroy: (id) => (count('destroy'), inner.destroy(id)),
      revokeByGrantId: (grantId) => (count('revokeByGrantId'), inner.revokeByGrantId(grantId)),
    };
  };
}

/** adapter: the storage of the stored ceiling (ceiling-postgres.ts); default oidc-provider's in-memory one */
export function createCeilingProvider(input: CeilingInput, recorder: WriteRecorder, adapter?: (model: string) => Adapter): Provider {
  const resources = new Map(input.resources.map((r) => [r.identifier, r]));
  const { ttl } = input;

  const configuration: Configuration = {
    adapter: adapter ?? countingMemoryAdapter(recorder),
    clients: input.clients,
    jwks: input.jwks as Configuration['jwks'],
    cookies: { keys: input.cookieKeys },
    routes: PROTOCOL_ROUTES,
    scopes: SUPPORTED_SCOPES,
    claims: { openid: ['sub'], profile: ['name', 'updated_at'], email: ['email', 'email_verified'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.clientCredentials,
      AuthorizationCode: 60,
      DeviceCode: ttl.deviceCode,
      IdToken: ttl.idToken,
      Interaction: 3600,
      Session: ttl.session,
      Grant: ttl.grant,
      RefreshToken: ttl.refreshToken,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        async allowedPolicy(ctx, client, token) {
          return !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client?.clientId);
        },
      },
      revocation: { enabled: true },
      deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****' },
      registration: { enabled: true },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, indicator) {
          const resource = resources.get(indicator);
          if (!resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            scope: resource.scopes.join(' '),
            audience: resource.identifier,
            accessTokenTTL: resource.accessTokenTtl ?? undefined,
            accessTokenFormat: resource.tokenFormat,
            ...(resource.tokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' as const } } } : {}),
          };
        },
      },
      userinfo: { enabled: true },
    },
  };
  return new Provider(input.issuer, configuration);
}
