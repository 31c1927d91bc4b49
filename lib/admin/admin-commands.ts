import type { Container } from '../container.js';
import { migrateDown, migrateLatest, migrationStatus } from '../db/database.js';
import { invalidInput, notFound } from '../http/errors.js';

/**
 * Every admin operation, by name, over the container's services. The `latch` CLI runs them
 * in its own process, or — when an embedded database is held by a running server — sends
 * them to that server over its admin socket. Either way the same code does the work.
 */
type Args = Record<string, unknown>;

const REGISTRATION_TOKEN_MAX_TTL = 365 * 86400;

function str(args: Args, key: string): string {
  const value = args[key];
  if (typeof value !== 'string' || !value) throw invalidInput(`${key} is required`);
  return value;
}

export function createAdminCommands(c: Container) {
  const commands = {
    'migrate.up': async () => ({ applied: await migrateLatest(c.knex) }),
    'migrate.down': async () => ({ reverted: await migrateDown(c.knex) }),
    'migrate.status': async () => migrationStatus(c.knex),

    'clients.create': async (args: Args) => c.clients.create(args as never),
    'clients.list': async () => c.clients.list(),
    'clients.show': async (args: Args) => c.clients.show(str(args, 'clientId')),
    'clients.update': async (args: Args) => c.clients.update(str(args, 'clientId'), args as never),
    'clients.delete': async (args: Args) => {
      await c.clients.delete(str(args, 'clientId'));
      return { deleted: args.clientId };
    },
    'clients.rotate-secret': async (args: Args) => c.clients.rotateSecret(str(args, 'clientId')),

    'resources.add': async (args: Args) => c.resources.add(args as never),
    'resources.list': async () => c.resources.list(),
    'resources.update': async (args: Args) => c.resources.update(str(args, 'identifier'), args as never),
    'resources.remove': async (args: Args) => {
      await c.resources.remove(str(args, 'identifier'));
      return { removed: args.identifier };
    },

    'registration-tokens.create': async (args: Args) => {
      const expiresIn = args.expiresIn === undefined ? 86400 : Number(args.expiresIn);
      if (!Number.isInteger(expiresIn) || expiresIn < 60 || expiresIn > REGISTRATION_TOKEN_MAX_TTL) {
        throw invalidInput(`expiresIn must be between 60 and ${REGISTRATION_TOKEN_MAX_TTL} seconds`);
      }
      const token = await new c.provider.InitialAccessToken({ expiresIn }).save();
      return { token, expiresAt: new Date(Date.now() + expiresIn * 1000) };
    },
    'registration-tokens.list': async () =>
      (await c.queries.payloads.listLive('InitialAccessToken')).map((row) => ({
        prefix: row.id.slice(0, 8),
        expiresAt: row.expires_at,
      })),
    'registration-tokens.revoke': async (args: Args) => {
      const token = await c.provider.InitialAccessToken.find(str(args, 'token'));
      if (!token) throw notFound('registration token');
      await token.destroy();
      return { revoked: true };
    },

    'keys.list': async () => c.keys.listKeys(),
    'keys.rotate': async (args: Args) => {
      const use = args.use === undefined ? 'sig' : args.use;
      if (use !== 'sig' && use !== 'cookie') throw invalidInput('use must be sig or cookie');
      return c.keys.rotate(use);
    },
    'keys.retire': async (args: Args) => c.keys.retire(str(args, 'kid')),

    'api-keys.create': async (args: Args) => c.apiKeys.admin.create(args),
    'api-keys.list': async (args: Args) => c.apiKeys.admin.list(args),
    'api-keys.revoke': async (args: Args) => c.apiKeys.admin.revoke(str(args, 'id')),
    'api-keys.rotate': async (args: Args) => c.apiKeys.admin.rotate(str(args, 'id'), { gracePeriod: args.gracePeriod }),

    prune: async () => ({ deleted: await c.prune.runOnce() }),
  } satisfies Record<string, (args: Args) => Promise<unknown>>;
  return commands;
}

export type AdminCommands = ReturnType<typeof createAdminCommands>;
export type AdminCommandName = keyof AdminCommands;
