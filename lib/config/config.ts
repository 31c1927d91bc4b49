import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from './durations.js';

/**
 * The only module that reads the environment. Everything else receives a Config.
 * Each variable has a safe default for local use; a bad value stops start-up with
 * a message that names the variable.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const duration = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      const seconds = parseDuration(value);
      if (seconds === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be seconds ("900") or a number with s/m/h/d ("15m", "30d")' });
        return z.NEVER;
      }
      return seconds;
    });

const flag = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false' });
      return z.NEVER;
    });

const httpUrl = z
  .string()
  .refine((value) => {
    const url = URL.canParse(value) ? new URL(value) : undefined;
    return !!url && (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
  }, 'must be an http(s) URL with no query or fragment');

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? 3000 : Number(v)))
    .pipe(z.number().int('must be a whole number').min(0).max(65535)),
  HOST: z.string().optional(),
  ISSUER: httpUrl.optional(),
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => !v || /^postgres(ql)?:\/\//.test(v), 'must start with postgres:// or postgresql://'),
  DATABASE_POOL_MAX: z
    .string()
    .optional()
    .transform((v) => (v ? Number(v) : 10))
    .pipe(z.number().int().min(1).max(200)),
  LATCH_DATA_DIR: z.string().optional(),
  LATCH_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SMTP_URL: z.string().optional(),
  MAIL_FROM: z.string().optional(),
  AUTH_ALLOWED_ORIGINS: z.string().optional(),
  LATCH_SIGNUP: z.enum(['open', 'invite', 'closed']).optional(),
  LATCH_MFA: z.enum(['optional', 'required', 'off']).optional(),
  LATCH_REGISTRATION: z.enum(['open', 'token', 'closed']).optional(),
  LATCH_TRUST_PROXY: flag(false),
  LATCH_AUTO_MIGRATE: flag(true),
  LATCH_ACCESS_TOKEN_TTL: duration(15 * 60),
  LATCH_CLIENT_CREDENTIALS_TTL: duration(10 * 60),
  LATCH_REFRESH_TOKEN_TTL: duration(30 * 86400),
  LATCH_REFRESH_TOKEN_ABSOLUTE_TTL: duration(90 * 86400),
  LATCH_SESSION_TTL: duration(14 * 86400),
  LATCH_ID_TOKEN_TTL: duration(60 * 60),
  LATCH_DEVICE_CODE_TTL: duration(10 * 60),
  LATCH_PRUNE_INTERVAL: duration(5 * 60),
  // RFC 8628 §3.2: how often a device may poll the token endpoint (5 s when unsaid)
  LATCH_DEVICE_POLL_INTERVAL: duration(5).pipe(z.number().int('must be whole seconds').min(1, 'must be at least 1 second').max(60)),
  LATCH_DCR_IDLE_DAYS: z
    .string()
    .optional()
    .transform((v) => (v ? Number(v) : 30))
    .pipe(z.number().int().min(1)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

export type Config = ReturnType<typeof loadConfig>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');

  const problems: string[] = [];
  if (production && !e.LATCH_SECRET) {
    problems.push('LATCH_SECRET: required when NODE_ENV=production (it encrypts private keys at rest)');
  }
  if (production && new URL(issuer).protocol !== 'https:') {
    problems.push('ISSUER: must be https when NODE_ENV=production');
  }
  if (problems.length) throw new ConfigError(problems);

  const issuerOrigin = new URL(issuer).origin;
  const allowedOrigins = new Set(
    (e.AUTH_ALLOWED_ORIGINS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => (URL.canParse(s) ? new URL(s).origin : s)),
  );
  allowedOrigins.add(issuerOrigin);

  return {
    production,
    port: e.PORT,
    host: e.HOST,
    issuer,
    database: e.DATABASE_URL
      ? ({ kind: 'postgres', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX } as const)
      : ({ kind: 'embedded', dataDir: path.resolve(e.LATCH_DATA_DIR ?? './data') } as const),
    dataDir: path.resolve(e.LATCH_DATA_DIR ?? './data'),
    secret: e.LATCH_SECRET,
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? `Latch <no-reply@${new URL(issuer).hostname}>` },
    allowedOrigins: [...allowedOrigins],
    signup: e.LATCH_SIGNUP ?? 'open',
    mfa: e.LATCH_MFA ?? 'optional',
    registration: e.LATCH_REGISTRATION ?? 'open',
    trustProxy: e.LATCH_TRUST_PROXY,
    autoMigrate: e.LATCH_AUTO_MIGRATE,
    ttl: {
      accessToken: e.LATCH_ACCESS_TOKEN_TTL,
      clientCredentials: e.LATCH_CLIENT_CREDENTIALS_TTL,
      refreshToken: e.LATCH_REFRESH_TOKEN_TTL,
      refreshTokenAbsolute: e.LATCH_REFRESH_TOKEN_ABSOLUTE_TTL,
      session: e.LATCH_SESSION_TTL,
      idToken: e.LATCH_ID_TOKEN_TTL,
      deviceCode: e.LATCH_DEVICE_CODE_TTL,
    },
    pruneIntervalSeconds: e.LATCH_PRUNE_INTERVAL,
    devicePollIntervalSeconds: e.LATCH_DEVICE_POLL_INTERVAL,
    dcrIdleDays: e.LATCH_DCR_IDLE_DAYS,
    logLevel: e.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
  };
}
