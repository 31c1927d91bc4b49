import type Provider from 'oidc-provider';
import { createAdapterFactory } from '../adapters/knex-adapter.js';
import { currentPayloadWriteBatch } from './oidc/payload-write-batch.js';
import type { Config } from './config/config.js';
import { createSealer } from './crypto/seal.js';
import { createChangeFeed } from './db/change-feed.js';
import { type Database } from './db/database.js';
import { ACCOUNT_CLIENT_ID, ensureAccountClient } from './account/account-client.js';
import { ensureCliClient } from './account/cli-client.js';
import { createAccountQueries } from './accounts/accounts.queries.js';
import { createAccountAdminService } from './accounts/account-admin.service.js';
import { createAuditQueries } from './audit/audit.queries.js';
import { createAuditService } from './audit/audit.service.js';
import { clientUseMarker, createIdleClientPruner, watchClientActivity } from './clients/client-activity.js';
import { limitRegistration } from './oidc/registration-throttle.js';
import { createOrgAdminService } from './orgs/orgs-admin.service.js';
import { createAccessTokenVerifier } from './api/access-token-verifier.js';
import { createApiAuthenticator } from './api/api-auth.js';
import { createApiKeyResolver } from './api-keys/api-key-auth.js';
import { createExchangedTokenClaims, EXCHANGED_TOKEN_TTL_SECONDS, registerApiKeyExchange } from './api-keys/api-key-exchange.js';
import { answerApiKeyIntrospection } from './api-keys/api-key-introspection.js';
import { createApiKeyQueries } from './api-keys/api-keys.queries.js';
import { createApiKeyService } from './api-keys/api-keys.service.js';
import { createMeService } from './me/me.service.js';
import { createMetrics } from './metrics/metrics.js';
import { createOrgQueries } from './orgs/orgs.queries.js';
import { createOrgService } from './orgs/orgs.service.js';
import { createAccountService } from './accounts/accounts.service.js';
import { createClientQueries } from './clients/clients.queries.js';
import { createConsentQueries } from './consents/consents.queries.js';
import { createConsentService } from './consents/consents.service.js';
import { createMailService } from './mail/mail.service.js';
import { createFindAccount, createLoadExistingGrant } from './oidc/account-claims.js';
import { createThrottleService } from './throttling/throttle.service.js';
import { createMfaQueries } from './mfa/mfa.queries.js';
import { createMfaService } from './mfa/mfa.service.js';
import { createClientService } from './clients/clients.service.js';
import { createKeyQueries } from './keys/keys.queries.js';
import { createKeyRefreshJob } from './keys/key-refresh.js';
import { createKeyService, type KeyMaterial } from './keys/keys.service.js';
import { invalidInput } from './http/errors.js';
import type { Logger } from './log.js';
import { createOidcPayloadQueries } from './oidc/oidc-payloads.queries.js';
import { createProvider, INTERACTION_TTL_SECONDS } from './oidc/provider.js';
import { createProviderHost } from './oidc/provider-host.js';
import { createPruneJob } from './jobs/prune.js';
import { createVacuumJob } from './jobs/vacuum.js';
import { createResourceQueries } from './resources/resources.queries.js';
import { createResourceService } from './resources/resources.service.js';
import { createRenderer } from './views/renderer.js';
import { createSafeFetch } from './http/safe-fetch.js';
import { createUpstreamRegistry } from './upstream/upstream-providers.js';
import { createUpstreamQueries } from './upstream/upstream.queries.js';
import { createUpstreamService } from './upstream/upstream.service.js';

/**
 * The composition root: database -> queries -> services -> provider. Routes receive what is
 * built here; nothing else constructs a service or opens a connection.
 */
export async function buildContainer(config: Config, db: Database, log: Logger) {
  const { knex } = db;
  const sealer = createSealer(config.secret);
  // clients and resource servers are cached in memory; writes anywhere reach every instance's cache
  const changes = createChangeFeed({ knex, kind: db.kind, url: config.database.kind === 'postgres' ? config.database.url : undefined, log });

  const queries = {
    payloads: createOidcPayloadQueries(knex),
    clients: createClientQueries(knex, changes),
    resources: createResourceQueries(knex, changes),
    keys: createKeyQueries(knex),
    accounts: createAccountQueries(knex, changes),
    consents: createConsentQueries(knex),
    orgs: createOrgQueries(knex),
    mfa: createMfaQueries(knex),
    apiKeys: createApiKeyQueries(knex, changes),
    audit: createAuditQueries(knex),
    upstream: createUpstreamQueries(knex),
  };
  // first, so every service can record what it does; the key service records keys.rotated/retired here too
  const audit = createAuditService({ queries: queries.audit, log });

  const resources = createResourceService({ queries: queries.resources, issuer: config.issuer });
  const keys = createKeyService({
    knex,
    queries: queries.keys,
    sealer,
    refreshIntervalSeconds: config.keyRefreshIntervalSeconds,
    // a replaced signing key stays published until the last token it signed has expired
    longestLifetime: async (use) =>
      use === 'cookie'
        ? Math.max(config.ttl.session, INTERACTION_TTL_SECONDS)
        : Math.max(
            config.ttl.accessToken,
            config.ttl.clientCredentials,
            config.ttl.idToken,
            EXCHANGED_TOKEN_TTL_SECONDS,
            ...(await resources.list()).map((r) => r.accessTokenTtl ?? 0),
          ),
    onEvent: (type, details) => {
      log.info({ event: type, ...details }, type);
      void audit.record({ type, actor: 'system', subject: details.kid, details: { ...details } });
    },
  });
  const created = await keys.ensureKeys();
  if (created.length) log.info({ kids: created }, 'created signing and cookie keys');
  // a rotation that came due while no instance was running takes effect before the first request
  await keys.advance();
  let keyMaterial = await keys.loadKeyMaterial();

  await ensureAccountClient(queries.clients, config.issuer);
  await ensureCliClient(queries.clients);
  const renderer = createRenderer({ reloadTemplates: config.development });
  const mail = createMailService({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, renderer, log, issuer: config.issuer });
  const throttle = createThrottleService(knex, config.devicePollIntervalSeconds);
  const metrics = createMetrics({ knex });
  const accounts = createAccountService({ knex, queries: queries.accounts, payloads: queries.payloads, mail, throttle, issuer: config.issuer, onSignIn: metrics.signIn, audit });
  const mfa = createMfaService({ knex, queries: queries.mfa, sealer, throttle, accounts, issuer: config.issuer, mode: config.mfa, log, audit });
  const consents = createConsentService({ knex, queries: queries.consents, payloads: queries.payloads });
  const orgs = createOrgService({ knex, changes, queries: queries.orgs, accounts, mail, issuer: config.issuer });
  const me = createMeService({ changes, accounts, orgs, consents, payloads: queries.payloads, clients: queries.clients });
  const apiKeys = createApiKeyService({ knex, queries: queries.apiKeys, resources, orgs, accounts, sealer, log, audit });
  const exchangedTokenClaims = createExchangedTokenClaims();
  const accountAdmin = createAccountAdminService({ knex, changes, queries: queries.accounts, payloads: queries.payloads, orgQueries: queries.orgs, me, mfa });
  const orgAdmin = createOrgAdminService({ queries: queries.orgs });
  const idleClients = createIdleClientPruner({ clients: queries.clients, audit, idleDays: config.dcrIdleDays });
  const upstreamRegistry = createUpstreamRegistry({
    configured: config.upstream.providers,
    queries: queries.upstream,
    sealer,
    safeFetch: createSafeFetch({ privateHosts: config.upstream.privateHosts }),
    privateHosts: config.upstream.privateHosts,
  });
  await upstreamRegistry.refresh();
  const upstream = createUpstreamService({ queries: queries.upstream, registry: upstreamRegistry, accounts, orgs, mfa, issuer: config.issuer, signup: config.signup, log });

  // The provider validates client metadata; the client service needs that check before it
  // writes, so it receives it as a function rather than the provider itself.
  const clients = createClientService({
    queries: queries.clients,
    validate: async (metadata) => {
      try {
        await providerHost.current.Client.validate(metadata as never);
      } catch (err) {
        const e = err as { error?: string; error_description?: string };
        if (e.error) throw invalidInput(e.error_description ?? e.error);
        throw err;
      }
    },
  });

  const clientUses = clientUseMarker(queries.clients, (err) => log.warn({ err }, 'could not note a client use'));
  // Built again, with the same configuration, whenever the signing keys change (provider-host.ts).
  const buildProvider = (material: KeyMaterial) => {
    const provider = createProvider({
      config,
      keys: material,
      adapter: createAdapterFactory({ payloads: queries.payloads, clients: queries.clients }, currentPayloadWriteBatch),
      payloads: queries.payloads,
      clients: queries.clients,
      resources,
      renderer,
      findAccount: createFindAccount(accounts),
      loadExistingGrant: createLoadExistingGrant(consents, new Set([ACCOUNT_CLIENT_ID])),
      orgForToken: (accountId, clientId) => orgs.orgForToken(accountId, clientId),
      throttle,
      exchangedTokenClaims: exchangedTokenClaims.lookup,
    });
    registerApiKeyExchange(provider, { apiKeys, resources, claims: exchangedTokenClaims, audit });
    limitRegistration(provider, throttle);
    watchClientActivity(provider, { audit, uses: clientUses });
    answerApiKeyIntrospection(provider, apiKeys);
    metrics.watchProvider(provider);
    provider.on('server_error', (ctx: { path?: string }, err: Error) => log.error({ err, path: ctx?.path }, 'oidc-provider server error'));
    return provider;
  };
  const providerHost = createProviderHost(buildProvider, keyMaterial);
  const keyRefresh = createKeyRefreshJob({
    keys,
    log,
    intervalSeconds: config.keyRefreshIntervalSeconds,
    initial: keyMaterial,
    apply: (material) => {
      providerHost.swap(material);
      keyMaterial = material;
    },
  });

  const verifyAccessToken = createAccessTokenVerifier({ issuer: config.issuer, audience: resources.latchApi.identifier, privateJwks: () => keyMaterial.jwks.keys });
  // interaction and session look-ups are the same on any Provider built here: they read the
  // database and the shared cookie keys, never the signing keys
  const authenticateApi = createApiAuthenticator({
    provider: providerHost.current,
    accounts,
    verifyAccessToken,
    activeOrgOf: (accountId) => queries.orgs.activeOrgOf(accountId),
    allowedOrigins: config.allowedOrigins,
    extraResolvers: [createApiKeyResolver({ apiKeys, latchApiIdentifier: resources.latchApi.identifier })],
  });

  const prune = createPruneJob({
    log,
    intervalSeconds: config.pruneIntervalSeconds,
    tasks: [
      { name: 'oidc_payloads', deleteBatch: (limit) => queries.payloads.deleteExpiredBatch(limit) },
      { name: 'rate_limits', deleteBatch: (limit) => throttle.deleteExpiredBatch(limit) },
      { name: 'email_tokens', deleteBatch: (limit) => queries.accounts.deleteExpiredEmailTokensBatch(limit) },
      ...mfa.pruneTasks,
      { name: 'api_keys', deleteBatch: (limit) => apiKeys.deleteStaleBatch(limit) },
      { name: 'upstream_sign_ins', deleteBatch: (limit) => upstream.deleteExpiredBatch(limit) },
    ],
    extraTasks: [() => idleClients.prune()],
  });

  // PGlite has no autovacuum worker; a real PostgreSQL server vacuums by itself
  const vacuum = db.kind === 'embedded' ? createVacuumJob({ knex, log }) : undefined;

  return {
    config, db, knex, changes, vacuum, log, sealer, queries, keys, resources, clients, accounts, consents, orgs, me, mfa, apiKeys, mail, throttle,
    /** the Provider now serving requests; a new one after each key change */
    get provider(): Provider {
      return providerHost.current;
    },
    providerHost, keyRefresh, authenticateApi, metrics, renderer, prune, audit, accountAdmin, orgAdmin, idleClients, upstream, upstreamRegistry,
    /** Writes the client and API-key use marks not yet written (on shutdown). */
    flushUseMarks: () => Promise.all([clientUses.flush(), apiKeys.flushUseMarks()]),
  };
}

export type Container = Awaited<ReturnType<typeof buildContainer>>;
