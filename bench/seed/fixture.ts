import type { ClientMetadata } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { loadConfig } from '../../lib/config/config.js';
import { buildContainer, type Container } from '../../lib/container.js';
import { migrateLatest, openDatabase } from '../../lib/db/database.js';
import type { KeyMaterial } from '../../lib/keys/keys.service.js';
import { createLogger } from '../../lib/log.js';
import type { CeilingInput, CeilingResource } from '../servers/ceiling-config.js';
import { seedClients, type Credential } from './clients.js';
import { seedApiKeys } from './api-keys.js';
import { seedAccounts, type SeedNote } from './optional-tables.js';
import { insertPayloadRows } from './payload-rows.js';
import { settleDatabase } from './settle.js';
import { mintRefreshTokens, type RefreshTokenOwner } from './refresh-tokens.js';

/**
 * Seeds one Latch database through Latch's own container (its migrations, key service,
 * client service and resource service; bulk token rows straight into oidc_payloads) and
 * keeps that container to mint refresh tokens later. Also hands out what the baselines
 * need to mirror it: keys, client metadata, resource servers, lifetimes.
 */
export type SeedSizes = { clients: number; liveTokens: number; accounts: number; apiKeys: number };

export type Fixture = {
  issuer: string;
  /** a registered resource whose tokens are ES256 JWTs */
  resource: string;
  machines: Credential[];
  apps: Credential[];
  accountIds: string[];
  /** plaintext API keys (scenario 4), empty where Latch has none */
  apiKeys: string[];
  /** a client allowed the token-exchange grant, where Latch has one */
  exchanger?: Credential;
  notes: SeedNote[];
};

export type SeededLatch = {
  fixture: Fixture;
  container: Container;
  keys: KeyMaterial;
  ceilingInput(): Promise<Omit<CeilingInput, 'issuer'>>;
  mintRefreshTokens(count: number): Promise<string[]>;
  close(): Promise<void>;
};

export const BENCH_RESOURCE = 'https://api.bench.example';
const BENCH_SCOPES = ['read', 'write'];

/** Who the refresh tokens of scenario 5 belong to: each web app with one of the accounts. */
export function refreshOwners(fixture: Fixture): RefreshTokenOwner[] {
  return fixture.apps.map((app, i) => ({ clientId: app.clientId, accountId: fixture.accountIds[i % fixture.accountIds.length]! }));
}

async function seedExchanger(container: Container): Promise<Credential | undefined> {
  try {
    const created = await container.clients.create({ name: 'Bench token exchanger', grantTypes: ['urn:ietf:params:oauth:grant-type:token-exchange'] });
    return { clientId: created.clientId, clientSecret: created.clientSecret! };
  } catch {
    return undefined;
  }
}

export function latchEnv(databaseUrl: string, issuer: string, secret: string): Record<string, string> {
  return { DATABASE_URL: databaseUrl, ISSUER: issuer, LATCH_SECRET: secret };
}

export async function seedLatch(options: { databaseUrl: string; issuer: string; secret: string; sizes: SeedSizes; salt: string }): Promise<SeededLatch> {
  const config = loadConfig({ ...latchEnv(options.databaseUrl, options.issuer, options.secret), LOG_LEVEL: 'silent', DATABASE_POOL_MAX: '4' });
  const db = await openDatabase(config.database);
  await migrateLatest(db.knex);
  const container = await buildContainer(config, db, createLogger('silent'));
  const keys = await container.keys.loadKeyMaterial();

  await container.resources.add({ identifier: BENCH_RESOURCE, scopes: BENCH_SCOPES, tokenFormat: 'jwt' });
  const { machines, apps } = await seedClients(container.clients, options.sizes.clients);
  const accounts = await seedAccounts(db.knex, options.sizes.accounts);
  const apiKeys = await seedApiKeys(container, options.sizes.apiKeys, accounts.accountIds);
  const exchanger = apiKeys.keys.length ? await seedExchanger(container) : undefined;
  const clientIds = [...machines, ...apps].map((c) => c.clientId);
  const liveTokens = await insertPayloadRows(db.knex, { count: options.sizes.liveTokens, clientIds, accountIds: accounts.accountIds, expired: false, salt: options.salt });
  await settleDatabase(db.knex);

  const notes: SeedNote[] = [
    { table: 'clients', status: 'seeded', rows: clientIds.length, note: `${machines.length} client_credentials, ${apps.length} code + refresh` },
    { table: 'oidc_payloads', status: 'seeded', rows: liveTokens, note: 'live tokens: 50 % client_credentials, 25 % access, 25 % refresh' },
    accounts.note,
    apiKeys.note,
  ];
  const fixture: Fixture = { issuer: options.issuer, resource: BENCH_RESOURCE, machines, apps, accountIds: accounts.accountIds, apiKeys: apiKeys.keys, exchanger, notes };
  const owners = refreshOwners(fixture);

  return {
    fixture,
    container,
    keys,
    async ceilingInput() {
      const rows = await container.queries.clients.list();
      const resources: CeilingResource[] = (await container.resources.list()).map((r) => ({
        identifier: r.identifier,
        scopes: r.scopes,
        tokenFormat: r.tokenFormat,
        accessTokenTtl: r.accessTokenTtl,
      }));
      const { ttl } = config;
      return {
        jwks: keys.jwks as CeilingInput['jwks'],
        cookieKeys: keys.cookieKeys,
        clients: rows.map((row) => row.metadata as ClientMetadata),
        resources,
        ttl: {
          accessToken: ttl.accessToken,
          clientCredentials: ttl.clientCredentials,
          refreshToken: ttl.refreshToken,
          idToken: ttl.idToken,
          deviceCode: ttl.deviceCode,
          session: ttl.session,
          grant: ttl.refreshTokenAbsolute,
        },
      };
    },
    mintRefreshTokens: (count) => mintRefreshTokens(container.provider as Provider, owners, count),
    close: () => db.close(),
  };
}
