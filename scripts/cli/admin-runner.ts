import net from 'node:net';
import { adminSocketPath } from '../../lib/admin/admin-socket-path.js';
import type { Config } from '../../lib/config/config.js';
import { CommandFailed } from './command-failed.js';

/**
 * Runs one admin command. With PostgreSQL, in this process. With the embedded database, on the
 * running server through its admin socket when there is one, else in this process holding the
 * data directory's lock for the duration.
 */
export { CommandFailed };

const SOCKET_TIMEOUT_MS = 120_000;
const NO_SERVER = Symbol('no server');

function viaSocket(socketPath: string, command: string, args: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    let connected = false;
    socket.setEncoding('utf8');
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => {
      socket.destroy();
      reject(new CommandFailed('timeout', 'the running server did not answer in time'));
    });
    socket.on('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify({ command, args })}\n`);
    });
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && ['ENOENT', 'ECONNREFUSED', 'ENOTSOCK'].includes(err.code ?? '')) resolve(NO_SERVER);
      else reject(new CommandFailed('socket', `cannot reach the running server: ${err.message}`));
    });
    socket.on('end', () => {
      try {
        const reply = JSON.parse(data) as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
        if (reply.ok) resolve(reply.result);
        else reject(new CommandFailed(reply.error?.code ?? 'failed', reply.error?.message ?? 'failed'));
      } catch {
        reject(new CommandFailed('socket', 'the running server sent an unreadable answer'));
      }
    });
  });
}

export async function runAdminCommand(config: Config, command: string, args: Record<string, unknown> = {}): Promise<{ result: unknown; via: 'server' | 'local' }> {
  const session = await openAdminSession(config, command);
  try {
    return { result: await session.call(command, args), via: session.via };
  } finally {
    await session.close();
  }
}

export type AdminSession = { via: 'server' | 'local'; call(command: string, args?: Record<string, unknown>): Promise<unknown>; close(): Promise<void> };

/**
 * Opens the way to run admin commands once, for a command that runs many (a paged export):
 * the running server's socket, or this process's own database connection and container.
 */
export async function openAdminSession(config: Config, firstCommand = ''): Promise<AdminSession> {
  if (config.database.kind === 'embedded') {
    const socketPath = adminSocketPath(config.dataDir);
    const probe = await viaSocket(socketPath, 'migrate.status', {}).catch((err) => err);
    if (probe !== NO_SERVER) {
      if (probe instanceof Error) throw probe;
      return { via: 'server', call: (command, args = {}) => viaSocket(socketPath, command, args), close: async () => undefined };
    }
  }

  // the server's code is loaded only to run a command here, not to reach a running server
  const [{ createAdminCommands }, { buildContainer }, { migrateDown, migrateLatest, migrationStatus, openDatabase }, { DataDirBusyError }, { createLogger }] = await Promise.all([
    import('../../lib/admin/admin-commands.js'),
    import('../../lib/container.js'),
    import('../../lib/db/database.js'),
    import('../../lib/db/data-dir-lock.js'),
    import('../../lib/log.js'),
  ]);
  let db;
  try {
    db = await openDatabase(config.database);
  } catch (err) {
    if (err instanceof DataDirBusyError) {
      throw new CommandFailed('busy', `${err.message}, which is not answering on its admin socket (still starting?); try again in a moment`);
    }
    throw err;
  }
  const opened = db;
  let commands: Record<string, (a: Record<string, unknown>) => Promise<unknown>> | undefined;
  const migrationCommands: Record<string, () => Promise<unknown>> = {
    'migrate.up': async () => ({ applied: await migrateLatest(opened.knex) }),
    'migrate.down': async () => ({ reverted: await migrateDown(opened.knex) }),
    'migrate.status': async () => migrationStatus(opened.knex),
  };
  try {
    if (!Object.hasOwn(migrationCommands, firstCommand)) {
      if (config.autoMigrate) await migrateLatest(db.knex);
      else {
        const { pending } = await migrationStatus(db.knex);
        if (pending.length) throw new CommandFailed('not_migrated', `the database has ${pending.length} pending migration(s); run: latch migrate up`);
      }
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  return {
    via: 'local',
    async call(command, args = {}) {
      if (Object.hasOwn(migrationCommands, command)) return migrationCommands[command]!();
      commands ??= createAdminCommands(await buildContainer(config, opened, createLogger('warn'))) as Record<string, (a: Record<string, unknown>) => Promise<unknown>>;
      const handler = Object.hasOwn(commands, command) ? commands[command] : undefined;
      if (!handler) throw new CommandFailed('unknown_command', `unknown command ${command}`);
      try {
        return await handler(args);
      } catch (err) {
        const e = err as { code?: string; message: string; status?: number };
        if (typeof e.status === 'number' && e.code) throw new CommandFailed(e.code, e.message);
        throw err;
      }
    },
    close: () => opened.close(),
  };
}
