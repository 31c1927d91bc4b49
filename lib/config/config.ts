import path from 'node:path';
import { z } from 'zod';
import type { OutboundTrust } from '../oidc/client-metadata-documents.js';
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

/** the longest LATCH_PRUNE_INTERVAL; a timer's own limit is 24.8 days, past which Node fires it every millisecond */
export const PRUNE_INTERVAL_MAX_S = 86_400;

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
  DATABASE_PREPARED_STATEMENTS: flag(true),
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
  LATCH_CIMD: flag(true),
  LATCH_CIMD_ALLOWED_HOSTS: z.string().optional(),
  LATCH_CIMD_DENIED_HOSTS: z.string().optional(),
  // how often each instance reloads signing and cookie keys; a rotation starts signing after two
  LATCH_KEY_REFRESH_INTERVAL: duration(30),
  // RFC 8628 §3.2: how often a device may poll the token endpoint (5 s when unsaid)
  LATCH_DEVICE_POLL_INTERVAL: duration(5).pipe(z.number().int('must be whole seconds').min(1, 'must be at least 1 second').max(60)),
  LATCH_DCR_IDLE_DAYS: z
    .string()
    .optional()
    .transform((v) => (v ? Number(v) : 30))
    .pipe(z.number().int().min(1)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  GITHUB_CLIENT_ID: z.string().optional(),
  GITHUB_CLIENT_SECRET: z.string().optional(),
  GITHUB_BASE_URL: httpUrl.optional(),
  GOOGLE_CLIENT_ID: z.string().optional(),
  GOOGLE_CLIENT_SECRET: z.string().optional(),
  GOOGLE_ISSUER: httpUrl.optional(),
  MICROSOFT_CLIENT_ID: z.string().optional(),
  MICROSOFT_CLIENT_SECRET: z.string().optional(),
  MICROSOFT_TENANT: z.string().regex(/^[A-Za-z0-9.-]{1,100}$/, 'must be a tenant id, a domain, or common / organizations / consumers').optional(),
  LATCH_UPSTREAM_PRIVATE_HOSTS: z.string().optional(),
});

/**
 * An identity provider people may sign in through. GitHub speaks OAuth 2 plus its REST API;
 * the others are OpenID providers found by discovery from their issuer.
 */
export type UpstreamProviderConfig =
  | { id: string; kind: 'github'; name: string; clientId: string; clientSecret: string; baseUrl: string }
  | { id: string; kind: 'oidc'; name: string; clientId: string; clientSecret: string; issuer: string; scope: string };

export const UPSTREAM_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const BUILT_IN_UPSTREAMS = ['github', 'google', 'microsoft'];
const GENERIC_UPSTREAM = /^LATCH_UPSTREAM_([A-Z0-9_]+)_(ISSUER|CLIENT_ID|CLIENT_SECRET|NAME)$/;

/**
 * Upstream providers from the environment: GITHUB_…, GOOGLE_…, MICROSOFT_… (each enabled only
 * when both its client id and secret are set) and any OpenID provider as
 * LATCH_UPSTREAM_<ID>_ISSUER / _CLIENT_ID / _CLIENT_SECRET [/ _NAME].
 */
function upstreamProviders(e: z.infer<typeof envSchema>, env: NodeJS.ProcessEnv, problems: string[]): UpstreamProviderConfig[] {
  const providers: UpstreamProviderConfig[] = [];
  if (e.GITHUB_CLIENT_ID && e.GITHUB_CLIENT_SECRET) {
    providers.push({ id: 'github', kind: 'github', name: 'GitHub', clientId: e.GITHUB_CLIENT_ID, clientSecret: e.GITHUB_CLIENT_SECRET, baseUrl: (e.GITHUB_BASE_URL ?? 'https://github.com').replace(/\/+$/, '') });
  }
  if (e.GOOGLE_CLIENT_ID && e.GOOGLE_CLIENT_SECRET) {
    providers.push({ id: 'google', kind: 'oidc', name: 'Google', clientId: e.GOOGLE_CLIENT_ID, clientSecret: e.GOOGLE_CLIENT_SECRET, issuer: e.GOOGLE_ISSUER ?? 'https://accounts.google.com', scope: 'openid email profile' });
  }
  if (e.MICROSOFT_CLIENT_ID && e.MICROSOFT_CLIENT_SECRET) {
    const issuer = `https://login.microsoftonline.com/${e.MICROSOFT_TENANT ?? 'common'}/v2.0`;
    providers.push({ id: 'microsoft', kind: 'oidc', name: 'Microsoft', clientId: e.MICROSOFT_CLIENT_ID, clientSecret: e.MICROSOFT_CLIENT_SECRET, issuer, scope: 'openid email profile' });
  }
  const generic = new Map<string, Record<string, string>>();
  for (const [key, value] of Object.entries(env)) {
    const match = GENERIC_UPSTREAM.exec(key);
    if (!match || !value) continue;
    const id = match[1]!.toLowerCase().replace(/_/g, '-');
    generic.set(id, { ...generic.get(id), [match[2]!]: value });
  }
  for (const [id, v] of generic) {
    const prefix = `LATCH_UPSTREAM_${id.toUpperCase().replace(/-/g, '_')}`;
    if (!UPSTREAM_ID.test(id) || BUILT_IN_UPSTREAMS.includes(id)) problems.push(`${prefix}_*: the provider id must be 1-32 of a-z, 0-9, - and not github, google or microsoft`);
    else if (!v.ISSUER || !v.CLIENT_ID || !v.CLIENT_SECRET) problems.push(`${prefix}_*: ISSUER, CLIENT_ID and CLIENT_SECRET are all needed`);
    else if (!httpUrl.safeParse(v.ISSUER).success) problems.push(`${prefix}_ISSUER: must be an http(s) URL with no query or fragment`);
    else providers.push({ id, kind: 'oidc', name: (v.NAME ?? id).slice(0, 60), clientId: v.CLIENT_ID, clientSecret: v.CLIENT_SECRET, issuer: v.ISSUER, scope: 'openid email profile' });
  }
  return providers;
}

export type Config = ReturnType<typeof loadConfig>;

const hostList = (value: string | undefined) =>
  (value ?? '')
    .split(/[\s,]+/)
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);

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
  const upstream = upstreamProviders(e, env, problems);
  if (e.LATCH_PRUNE_INTERVAL < 1 || e.LATCH_PRUNE_INTERVAL > PRUNE_INTERVAL_MAX_S) {
    problems.push('LATCH_PRUNE_INTERVAL: must be between 1s and 1d (expired rows go at least daily)');
  }
  if (e.LATCH_KEY_REFRESH_INTERVAL < 1 || e.LATCH_KEY_REFRESH_INTERVAL > 60) {
    problems.push('LATCH_KEY_REFRESH_INTERVAL: must be between 1s and 60s (every instance must see a key rotation within a minute)');
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
    /** NODE_ENV=development: templates are read again on every render (lib/views/renderer.ts) */
    development: e.NODE_ENV === 'development',
    port: e.PORT,
    host: e.HOST,
    issuer,
    database: e.DATABASE_URL
      ? ({ kind: 'postgres', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX, preparedStatements: e.DATABASE_PREPARED_STATEMENTS } as const)
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
    keyRefreshIntervalSeconds: e.LATCH_KEY_REFRESH_INTERVAL,
    devicePollIntervalSeconds: e.LATCH_DEVICE_POLL_INTERVAL,
    dcrIdleDays: e.LATCH_DCR_IDLE_DAYS,
    clientMetadataDocuments: {
      enabled: e.LATCH_CIMD,
      allowedHosts: hostList(e.LATCH_CIMD_ALLOWED_HOSTS),
      deniedHosts: hostList(e.LATCH_CIMD_DENIED_HOSTS),
    },
    // Test-only trust for outbound fetches (extra CA, hosts that may be loopback). Never read
    // from the environment: only test code sets it, so no deployment can weaken the SSRF rules.
    outboundTrust: undefined as OutboundTrust | undefined,
    upstream: {
      providers: upstream,
      // hosts an upstream provider may reach on a private network (an internal Keycloak)
      privateHosts: (e.LATCH_UPSTREAM_PRIVATE_HOSTS ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    },
    logLevel: e.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
  };
}
