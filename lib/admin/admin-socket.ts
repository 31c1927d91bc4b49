import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Container } from '../container.js';
import { LatchError } from '../http/errors.js';
import { createAdminCommands } from './admin-commands.js';
import { adminSocketPath } from './admin-socket-path.js';

export { ADMIN_SOCKET_NAME, adminSocketPath } from './admin-socket-path.js';

/**
 * With the embedded database only the server process may open it, so the `latch` CLI reaches
 * the running server through a Unix socket in the data directory. The socket is created with
 * mode 0600 (inside a 0700 directory): only the user that runs Latch can connect.
 *
 * Protocol: one JSON line `{command, args}` per connection, answered by one JSON line
 * `{ok: true, result}` or `{ok: false, error: {code, message, status}}`.
 */
const MAX_REQUEST_BYTES = 1024 * 1024;


export async function startAdminSocket(deps: { container: Container; dataDir: string }) {
  const commands = createAdminCommands(deps.container) as Record<string, (args: Record<string, unknown>) => Promise<unknown>>;
  const socketPath = adminSocketPath(deps.dataDir);
  fs.rmSync(socketPath, { force: true });

  const server = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', async (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) {
        socket.end(`${JSON.stringify({ ok: false, error: { code: 'too_large', message: 'request too large', status: 413 } })}\n`);
        return;
      }
      const newline = buffer.indexOf('\n');
      if (newline === -1) return;
      socket.pause();
      let reply;
      try {
        const request = JSON.parse(buffer.slice(0, newline)) as { command?: string; args?: Record<string, unknown> };
        const handler = typeof request.command === 'string' && Object.hasOwn(commands, request.command) ? commands[request.command] : undefined;
        if (!handler) throw new LatchError('unknown_command', `unknown command ${String(request.command)}`);
        reply = { ok: true, result: await handler(request.args ?? {}) };
      } catch (err) {
        const e = err instanceof LatchError ? err : undefined;
        reply = {
          ok: false,
          error: e ? { code: e.code, message: e.message, status: e.status } : { code: 'failed', message: (err as Error).message, status: 500 },
        };
      }
      socket.end(`${JSON.stringify(reply)}\n`);
    });
  });

  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(previousMask);
  }
  fs.chmodSync(socketPath, 0o600);

  return {
    path: socketPath,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(socketPath, { force: true });
    },
  };
}
