import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout (pino). Secrets are redacted by path wherever they might be logged. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'latch' },
    redact: {
      paths: ['*.client_secret', '*.password', '*.authorization', '*.cookie', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  });
}
