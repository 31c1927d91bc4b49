import type Provider from 'oidc-provider';
import { createAdapterFactory } from '../adapters/knex-adapter.js';
import type { Config } from './config/config.js';
import { createSealer } from './crypto/seal.js';
import { type Database } from './db/database.js';
import { ACCOUNT_CLIENT_ID, ensureAccountClient } from './account/account-client.js';
import { createAccountQueries } from './accounts/accounts.queries.js';
import { createAccessTokenVerifier } from './api/access-token-verifier.js';
import { createApiAuthenticator } from './api/api-auth.js';
import { createApiKeyResolver } from './api-keys/api-key-auth.js';
import { createExchangedTokenClaims, registerApiKeyExchange } from './api-keys/api-key-exchange.js';
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
import { createKeyService } from './keys/keys.service.js';
import { invalidInput } from './http/errors.js';
import type { Logger } from './log.js';
import { createOidcPayloadQueries } from './oidc/oidc-payloads.queries.js';
import { createProvider } from './oidc/provider.js';
import { createPruneJob } from './jobs/prune.js';
import { createResourceQueries } from './resources/resources.queries.js';
import { createResourceService } from './resources/resources.service.js';
import { createRenderer } from './views/renderer.js';

/**
 * The composition root: database -> queries -> services -> provider. Routes receive what is
 * built here; nothing else constructs a service or opens a connection.
 */
export async function buildContainer(config: Config, db: Database, log: Logger) {
  const { knex } = db;
  const sealer = createSealer(config.secret);

  const queries = {
    payloads: createOidcPayloadQueries(knex),
    clients: createClientQueries(knex),
    resources: createResourceQueries(knex),
    keys: createKeyQueries(knex),
    accounts: createAccountQueries(knex),
    consents: createConsentQueries(knex),
    orgs: createOrgQueries(knex),
    mfa: createMfaQueries(knex),
    apiKeys: createApiKeyQueries(knex),
  };

  const keys = createKeyService({ knex, queries: queries.keys, sealer });
  const created = await keys.ensureKeys();
  if (created.length) log.info({ kids: created }, 'created signing and cookie keys');
  const keyMaterial = await keys.loadKeyMaterial();

  await ensureAccountClient(queries.clients, config.issuer);
  const renderer = createRenderer({ production: config.production });
  const mail = createMailService({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, renderer, log, issuer: config.issuer });
  const throttle = createThrottleService(knex, config.devicePollIntervalSeconds);
  const metrics = createMetrics({ knex });
  const accounts = createAccountService({ knex, queries: queries.accounts, payloads: queries.payloads, mail, throttle, issuer: config.issuer, onSignIn: metrics.signIn });
  const mfa = createMfaService({ knex, queries: queries.mfa, sealer, throttle, accounts, issuer: config.issuer, mode: config.mfa, log });
  const consents = createConsentService({ knex, queries: queries.consents, payloads: queries.payloads });
  const orgs = createOrgService({ knex, queries: queries.orgs, accounts, mail, issuer: config.issuer });
  const me = createMeService({ knex, accounts, orgs, consents, payloads: queries.payloads, clients: queries.clients });
  const resources = createResourceService({ queries: queries.resources, issuer: config.issuer });
  const apiKeys = createApiKeyService({ knex, queries: queries.apiKeys, resources, orgs, accounts, sealer, log });
  const exchangedTokenClaims = createExchangedTokenClaims();

  // The provider validates client metadata; the client service needs that check before it
  // writes, so it receives it as a function rather than the provider itself.
  let provider: Provider | undefined;
  const clients = createClientService({
    queries: queries.clients,
    validate: async (metadata) => {
      try {
        await provider!.Client.validate(metadata as never);
      } catch (err) {
        const e = err as { error?: string; error_description?: string };
        if (e.error) throw invalidInput(e.error_description ?? e.error);
        throw err;
      }
    },
  });

  provider = createProvider({
    config,
    keys: keyMaterial,
    adapter: createAdapterFactory({ payloads: queries.payloads, clients: queries.clients }),
    resources,
    renderer,
    findAccount: createFindAccount(accounts),
    loadExistingGrant: createLoadExistingGrant(consents, new Set([ACCOUNT_CLIENT_ID])),
    orgForToken: (accountId, clientId) => orgs.orgForToken(accountId, clientId),
    throttle,
    exchangedTokenClaims: exchangedTokenClaims.lookup,
  });
  registerApiKeyExchange(provider, { apiKeys, resources, claims: exchangedTokenClaims, log });
  answerApiKeyIntrospection(provider, apiKeys);

  const verifyAccessToken = createAccessTokenVerifier({ issuer: config.issuer, audience: resources.latchApi.identifier, privateJwks: keyMaterial.jwks.keys });
  const authenticateApi = createApiAuthenticator({
    provider,
    accounts,
    verifyAccessToken,
    activeOrgOf: (accountId) => queries.orgs.activeOrgOf(accountId),
    allowedOrigins: config.allowedOrigins,
    extraResolvers: [createApiKeyResolver({ apiKeys, latchApiIdentifier: resources.latchApi.identifier })],
  });

  metrics.watchProvider(provider);

  provider.on('server_error', (ctx: { path?: string }, err: Error) => log.error({ err, path: ctx?.path }, 'oidc-provider server error'));

  const prune = createPruneJob({
    log,
    intervalSeconds: config.pruneIntervalSeconds,
    payloads: queries.payloads,
    extraTasks: [() => throttle.deleteExpired(), () => queries.accounts.deleteExpiredEmailTokens(), () => mfa.deleteExpired(), () => apiKeys.deleteStale()],
  });

  return { config, db, knex, log, sealer, queries, keys, resources, clients, accounts, consents, orgs, me, mfa, apiKeys, mail, throttle, provider, authenticateApi, metrics, renderer, prune };
}

export type Container = Awaited<ReturnType<typeof buildContainer>>;
