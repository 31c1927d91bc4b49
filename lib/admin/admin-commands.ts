import type { Container } from '../container.js';
import { migrateDown, migrateLatest, migrationStatus } from '../db/database.js';
import { invalidInput, LatchError, notFound } from '../http/errors.js';

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

/** Commands that only read; every other command is an admin action and goes to the audit log. */
const READS = /\.(list|show|status|export)$/;
// argument names whose values never go into the audit log
const SECRET_ARGS = new Set(['token', 'secret', 'password', 'key']);
const SUBJECT_ARGS = ['clientId', 'identifier', 'id', 'user', 'orgId', 'owner', 'org'];

function auditDetails(args: Args): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([key, value]) => value !== undefined && !SECRET_ARGS.has(key)));
}

/** What a command acted on: the id it reports (an account named by e-mail gives its id), else the one it was given. */
function subjectOf(args: Args, result: unknown): string | undefined {
  const r = result as { clientId?: unknown; id?: unknown; identifier?: unknown } | undefined;
  const fromResult = r?.clientId ?? r?.id ?? r?.identifier;
  if (typeof fromResult === 'string') return fromResult;
  for (const key of SUBJECT_ARGS) if (typeof args[key] === 'string') return args[key] as string;
  return undefined;
}

/**
 * @param opts.actor who runs the commands, for the audit log: 'cli' for the `latch` command,
 *   an administrator's account id for the admin console.
 */
export function createAdminCommands(c: Container, opts: { actor?: string } = {}) {
  const actor = opts.actor ?? 'cli';
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

    'users.list': async (args: Args) => c.accountAdmin.list({ search: args.search, limit: args.limit }),
    'users.show': async (args: Args) => c.accountAdmin.show(args.user),
    'users.disable': async (args: Args) => c.accountAdmin.disable(args.user),
    'users.enable': async (args: Args) => c.accountAdmin.enable(args.user),
    'users.make-admin': async (args: Args) => c.accountAdmin.makeAdmin(args.user),
    'users.reset-mfa': async (args: Args) => c.accountAdmin.resetMfa(args.user),
    'users.delete': async (args: Args) => c.accountAdmin.delete(args.user),

    'orgs.list': async (args: Args) => c.orgAdmin.list({ limit: args.limit }),
    'orgs.show': async (args: Args) => c.orgAdmin.show(args.orgId),

    'audit.list': async (args: Args) => c.audit.list(args),
    'audit.export': async (args: Args) => c.audit.exportPage(args),

    'api-keys.create': async (args: Args) => c.apiKeys.admin.create(args),
    'api-keys.list': async (args: Args) => c.apiKeys.admin.list(args),
    'api-keys.revoke': async (args: Args) => c.apiKeys.admin.revoke(str(args, 'id')),
    'api-keys.rotate': async (args: Args) => c.apiKeys.admin.rotate(str(args, 'id'), { gracePeriod: args.gracePeriod }),

    'upstream.add': async (args: Args) => c.upstreamRegistry.admin.add(args),
    'upstream.list': async () => c.upstreamRegistry.admin.list(),
    'upstream.check': async () => c.upstreamRegistry.admin.check(),
    'upstream.remove': async (args: Args) => c.upstreamRegistry.admin.remove(str(args, 'id')),

    prune: async () => {
      const idleClients = await c.idleClients.prune();
      return { deleted: await c.prune.runOnce(), idleClients };
    },
  } satisfies Record<string, (args: Args) => Promise<unknown>>;

  // every change is recorded as admin.<command>, with its outcome, whoever ran it
  for (const name of Object.keys(commands) as Array<keyof typeof commands>) {
    if (READS.test(name)) continue;
    const run = commands[name] as (args: Args) => Promise<unknown>;
    (commands as Record<string, (args: Args) => Promise<unknown>>)[name] = async (args: Args = {}) => {
      try {
        const result = await run(args);
        await c.audit.record({ type: `admin.${name}`, actor, subject: subjectOf(args, result), details: auditDetails(args) });
        return result;
      } catch (err) {
        const code = err instanceof LatchError ? err.code : 'failed';
        await c.audit.record({ type: `admin.${name}`, outcome: 'failure', actor, subject: subjectOf(args, undefined), details: { ...auditDetails(args), error: code } });
        throw err;
      }
    };
  }
  return commands;
}

export type AdminCommands = ReturnType<typeof createAdminCommands>;
export type AdminCommandName = keyof AdminCommands;
