import type { ClientMetadata } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { loadConfig } from '../../lib/config/config.js';
import { buildContainer, type Container } from '../../lib/container.js';
import { migrateLatest, openDatabase } from '../../lib/db/database.js';
import type { KeyMaterial } from '../../lib/keys/keys.service.js';
import { createLogger } from '../../lib/log.js';
import type { CeilingInput, CeilingResource } from '../servers/ceiling-config.js';
import { seedClients, type AppCredential, type Credential } from './clients.js';
import { seedApiKeys } from './api-keys.js';
import { BENCH_PASSWORD, seedAccounts, type SeedNote } from './optional-tables.js';
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
  apps: AppCredential[];
  accountIds: string[];
  /** people who sign in (scenarios 6, 7): each has allowed one app (remembered consent) and the device client */
  people: BenchPerson[];
  /** a public client allowed the device grant */
  deviceClientId?: string;
  /** the argon2id hash every seeded account has (of BENCH_PASSWORD) */
  passwordHash?: string;
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
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** what each person has allowed their app: sign-in, and reading the bench resource */
export const PERSON_SCOPE = 'openid read';

export type BenchPerson = { accountId: string; email: string; password: string; app: AppCredential };

/**
 * Gives each account its personal organization and remembers its consent for its app and for
 * the device client, through Latch's own services, so a flow of scenario 6 or 7 is a
 * returning person's: the sign-in form, then straight back to the app.
 */
async function seedPeople(container: Container, accountIds: string[], emails: string[], apps: AppCredential[], deviceClientId: string | undefined): Promise<BenchPerson[]> {
  const people = accountIds.map((accountId, i) => ({ accountId, email: emails[i]!, password: BENCH_PASSWORD, app: apps[i % apps.length]! }));
  let next = 0;
  const worker = async () => {
    while (next < people.length) {
      const person = people[next++]!;
      await container.orgs.ensurePersonalOrganization(person.accountId);
      await container.consents.remember(person.accountId, person.app.clientId, { scopes: ['openid'], resourceScopes: { [BENCH_RESOURCE]: ['read'] } });
      if (deviceClientId) await container.consents.remember(person.accountId, deviceClientId, { scopes: ['openid'], resourceScopes: {} });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return people;
}

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
  const deviceClientId = (await container.clients.create({ name: 'Bench device', public: true, grantTypes: [DEVICE_GRANT] })).clientId;
  const people = accounts.passwordHash && apps.length ? await seedPeople(container, accounts.accountIds, accounts.emails, apps, deviceClientId) : [];
  const clientIds = [...machines, ...apps].map((c) => c.clientId);
  const liveTokens = await insertPayloadRows(db.knex, { count: options.sizes.liveTokens, clientIds, accountIds: accounts.accountIds, expired: false, salt: options.salt });
  await settleDatabase(db.knex);

  const notes: SeedNote[] = [
    { table: 'clients', status: 'seeded', rows: clientIds.length, note: `${machines.length} client_credentials, ${apps.length} code + refresh` },
    { table: 'oidc_payloads', status: 'seeded', rows: liveTokens, note: 'live tokens: 50 % client_credentials, 25 % access, 25 % refresh' },
    accounts.note,
    { table: 'consents', status: people.length ? 'seeded' : 'skipped', rows: people.length * 2, note: 'each account: its app (openid, read on the bench resource) and the device client' },
    apiKeys.note,
  ];
  const fixture: Fixture = {
    issuer: options.issuer,
    resource: BENCH_RESOURCE,
    machines,
    apps,
    accountIds: accounts.accountIds,
    people,
    deviceClientId,
    passwordHash: accounts.passwordHash,
    apiKeys: apiKeys.keys,
    exchanger,
    notes,
  };
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
        people: fixture.people.map((p) => ({ accountId: p.accountId, email: p.email })),
        passwordHash: fixture.passwordHash ?? '',
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
