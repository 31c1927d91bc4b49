import path from 'node:path';

/**
 * Where the running server's admin socket is: a module of its own, so the `latch` command can
 * reach a running server without loading the server's code.
 */
export const ADMIN_SOCKET_NAME = 'latch.sock';

export function adminSocketPath(dataDir: string): string {
  return path.join(dataDir, ADMIN_SOCKET_NAME);
}
