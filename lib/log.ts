import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout (pino). Secrets are redacted by path wherever they might be logged.
 *
 * Lines are written asynchronously and in batches: they collect until there are 4 KiB of them
 * or 200 ms have passed, then go out in one write. A write per line (or per few lines) cost a
 * token request more CPU than the rest of Latch's own layers together, in system calls and
 * thread-pool hand-offs; a synchronous write cost a quarter of the request. A line waits at
 * most 200 ms, and pino writes what is pending when the process exits.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'latch' },
      redact: {
        paths: ['*.client_secret', '*.password', '*.authorization', '*.cookie', 'req.headers.authorization', 'req.headers.cookie'],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 }),
  );
}
