import type Provider from 'oidc-provider';
import { createAdapterFactory } from '../adapters/knex-adapter.js';
import type { Config } from './config/config.js';
import { createSealer } from './crypto/seal.js';
import { type Database } from './db/database.js';
import { createClientQueries } from './clients/clients.queries.js';
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
  };

  const keys = createKeyService({ knex, queries: queries.keys, sealer });
  const created = await keys.ensureKeys();
  if (created.length) log.info({ kids: created }, 'created signing and cookie keys');
  const keyMaterial = await keys.loadKeyMaterial();

  const renderer = createRenderer({ production: config.production });
  const resources = createResourceService({ queries: queries.resources, issuer: config.issuer });

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
    findAccount: async () => undefined,
  });

  provider.on('server_error', (ctx: { path?: string }, err: Error) => log.error({ err, path: ctx?.path }, 'oidc-provider server error'));

  const prune = createPruneJob({ payloads: queries.payloads, log, intervalSeconds: config.pruneIntervalSeconds });

  return { config, db, knex, log, sealer, queries, keys, resources, clients, provider, renderer, prune };
}

export type Container = Awaited<ReturnType<typeof buildContainer>>;
