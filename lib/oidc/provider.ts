import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/config.js';
import type { KeyMaterial } from '../keys/keys.service.js';
import { ACR_VALUES, createInteractionPolicy } from '../mfa/authentication-context.js';
import type { ResourceService } from '../resources/resources.service.js';
import type { Renderer } from '../views/renderer.js';
import { enforceClientPolicy, POLICY_TRIGGER_PROPERTY } from './client-policy.js';
import type { ThrottleService } from '../throttling/throttle.service.js';
import { answerDatabaseOutages } from './database-outage.js';
import { limitDeviceCodeEntry, limitDeviceCodePolling } from './device-code-throttle.js';
import { saveNewDeviceFormSessions } from './device-form-session.js';
import type { OidcPayloadQueries } from './oidc-payloads.queries.js';
import { batchPayloadWrites } from './payload-write-batch.js';
import { answerDisallowedGrantsAsUnauthorizedClient } from './unauthorized-client.js';
import { reuseClientInstances } from './client-instances.js';
import { createPages } from './pages.js';
import { clientIdMetadataDocumentFeature, createOutboundFetch, FETCH_BODY_LIMITS } from './client-metadata-documents.js';

/**
 * oidc-provider configured for OAuth 2.1: code flow with PKCE S256 for every client, no
 * implicit or password grant, rotating refresh tokens with an absolute lifetime, device flow,
 * client credentials, dynamic registration under the configured policy, resource indicators
 * with JWT (RFC 9068) access tokens for registered resources and opaque ones otherwise.
 */
export type ProviderDeps = {
  config: Config;
  keys: KeyMaterial;
  adapter: Configuration['adapter'];
  /** where each request's batch of adapter writes goes (payload-write-batch.ts) */
  payloads: OidcPayloadQueries;
  resources: ResourceService;
  renderer: Renderer;
  findAccount: Configuration['findAccount'];
  loadExistingGrant: Configuration['loadExistingGrant'];
  /** the organization a person's token acts for, with their role in it */
  orgForToken: (accountId: string, clientId: string | undefined) => Promise<{ orgId: string; role: string } | undefined>;
  throttle: ThrottleService;
  /** the client metadata cache, whose objects the built Client objects are kept beside */
  clients: { cachedMetadata(clientId: string): object | undefined };
  /** claims of a token being issued for an API key (RFC 8693 exchange), instead of the person's */
  exchangedTokenClaims?: (token: object) => Record<string, unknown> | undefined;
};

/** how long a sign-in/consent interaction (and its cookie) lives */
export const INTERACTION_TTL_SECONDS = 60 * 60;

export const SUPPORTED_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

export const PROTOCOL_ROUTES = {
  authorization: '/auth',
  token: '/token',
  userinfo: '/me',
  jwks: '/jwks',
  registration: '/reg',
  introspection: '/token/introspection',
  revocation: '/token/revocation',
  end_session: '/session/end',
  device_authorization: '/device/auth',
  code_verification: '/device',
  pushed_authorization_request: '/request',
} as const;

export function createProvider(deps: ProviderDeps): Provider {
  const { config, keys, resources, renderer } = deps;
  const pages = createPages(renderer);
  const ttl = config.ttl;
  const outboundFetch = createOutboundFetch(config.outboundTrust);

  const configuration: Configuration = {
    adapter: deps.adapter,
    findAccount: deps.findAccount,
    loadExistingGrant: deps.loadExistingGrant,
    // tokens name the organization they act for (org_id) and the person's role in it
    async extraTokenClaims(_ctx, token) {
      const exchanged = deps.exchangedTokenClaims?.(token);
      if (exchanged) return exchanged;
      const accountId = (token as { accountId?: string }).accountId;
      if (!accountId) return undefined;
      const org = await deps.orgForToken(accountId, token.clientId);
      return org ? { org_id: org.orgId, org_role: org.role } : undefined;
    },
    jwks: keys.jwks as Configuration['jwks'],
    cookies: {
      keys: keys.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    routes: PROTOCOL_ROUTES,
    scopes: SUPPORTED_SCOPES,
    // how a person signed in (lib/mfa/authentication-context.ts); acr_values asks for a level
    acrValues: ACR_VALUES,
    claims: {
      // amr/acr ride with openid so every ID token says how the person authenticated
      openid: ['sub', 'amr', 'acr'],
      profile: ['name', 'updated_at'],
      email: ['email', 'email_verified'],
    },
    // the ID token carries the claims of the scopes granted (email, email_verified, name),
    // not only sub, so an app learns an unverified address is unverified without userinfo
    conformIdTokenClaims: false,
    // OAuth 2.1: the code flow only; no implicit (and oidc-provider has no password grant)
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    extraClientMetadata: {
      // RFC 7591 software_id carries no meaning here; listing it makes oidc-provider call the
      // validator with the whole metadata, which is where Latch's registration policy runs.
      properties: [POLICY_TRIGGER_PROPERTY],
      validator(ctx, key, value, metadata) {
        if (key === POLICY_TRIGGER_PROPERTY) enforceClientPolicy(metadata as Record<string, unknown>, SUPPORTED_SCOPES);
      },
    },
    interactions: {
      // oidc-provider's policy plus step-up for acr_values and LATCH_MFA=required
      policy: createInteractionPolicy({ mfa: config.mfa }),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    rotateRefreshToken(ctx) {
      // Every client rotates, so reuse of an old refresh token is always detected; the chain
      // ends at the absolute lifetime, after which the last token simply expires.
      const refreshToken = ctx.oidc.entities.RefreshToken!;
      return refreshToken.totalLifetime() < ttl.refreshTokenAbsolute;
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.clientCredentials,
      AuthorizationCode: 60,
      DeviceCode: ttl.deviceCode,
      IdToken: ttl.idToken,
      Interaction: INTERACTION_TTL_SECONDS,
      // absolute: counted from sign-in, so a session touched on every request still ends
      Session(_ctx, session) {
        const loginTs = (session as { loginTs?: number }).loginTs;
        if (!loginTs) return ttl.session;
        return Math.max(1, loginTs + ttl.session - Math.floor(Date.now() / 1000));
      },
      Grant: ttl.refreshTokenAbsolute,
      RefreshToken(_ctx, token) {
        const initiallyIssuedAt = (token as unknown as { iiat?: number }).iiat ?? Math.floor(Date.now() / 1000);
        const left = initiallyIssuedAt + ttl.refreshTokenAbsolute - Math.floor(Date.now() / 1000);
        return Math.max(1, Math.min(ttl.refreshToken, left));
      },
    },
    renderError: pages.renderError,
    // every server-side fetch (metadata documents, jwks_uri) is size-capped; oidc-provider
    // adds the time cap and the special-use address guard
    fetchResponseBodyLimits: FETCH_BODY_LIMITS,
    ...(outboundFetch ? { fetch: outboundFetch } : {}),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // a public client may only introspect its own tokens; confidential clients any
        async allowedPolicy(ctx, client, token) {
          return !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client?.clientId);
        },
      },
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: pages.deviceCodeInput,
        userCodeConfirmSource: pages.deviceCodeConfirm,
        successSource: pages.deviceSuccess,
      },
      registration: {
        enabled: config.registration !== 'closed',
        initialAccessToken: config.registration === 'token',
      },
      registrationManagement: {
        enabled: config.registration !== 'closed',
        rotateRegistrationAccessToken: true,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logout,
        postLogoutSuccessSource: pages.postLogout,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          const resource = await resources.find(resourceIndicator);
          if (!resource) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          return {
            scope: resource.scopes.join(' '),
            audience: resource.identifier,
            accessTokenTTL: resource.accessTokenTtl ?? undefined,
            accessTokenFormat: resource.tokenFormat,
            ...(resource.tokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
          };
        },
      },
      userinfo: { enabled: true },
      // an https URL as client_id (MCP clients): see client-metadata-documents.ts
      clientIdMetadataDocument: clientIdMetadataDocumentFeature(config.clientMetadataDocuments),
    },
    clientBasedCORS(ctx, origin, client) {
      if (origin === 'null') return false;
      if (ctx.oidc.route === 'userinfo' || client.clientAuthMethod === 'none') {
        return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false;
      }
      return false;
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  // first, so it also sees database errors from the middleware below
  answerDatabaseOutages(provider, renderer);
  // inside the outage answer, so a batch the database refuses is answered like any write
  batchPayloadWrites(provider, deps.payloads);
  saveNewDeviceFormSessions(provider, ttl.session);
  limitDeviceCodeEntry(provider, deps.throttle, renderer);
  limitDeviceCodePolling(provider, deps.throttle, config.devicePollIntervalSeconds);
  answerDisallowedGrantsAsUnauthorizedClient(provider);
  reuseClientInstances(provider, deps.clients);
  return provider;
}

export type { KoaContextWithOIDC };
