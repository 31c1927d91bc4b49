import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { deleteBatch } from '../db/delete-batch.js';
import { knexRateLimitClient } from './rate-limit.store.js';

/**
 * Brute-force defence shared by every instance: counters live in the database
 * (rate-limiter-flexible, atomic upserts). SECURITY.md D.26 and B.16.
 *
 * Failures against one account slow it down exponentially — a few free attempts, then waits
 * of 2 s, 4 s, 8 s … capped at 15 minutes — never a permanent lock an attacker could cause.
 * Per-IP and per-session limits cap guessing across accounts and device codes.
 */
export const THROTTLE_LIMITS = {
  /** failed sign-ins (password, TOTP, recovery code) per account before delays start */
  accountFreeFailures: 5,
  accountFailureWindowSeconds: 60 * 60,
  accountMaxDelaySeconds: 15 * 60,
  /** failed sign-ins per client IP */
  ipFailures: { points: 50, duration: 15 * 60 },
  /** wrong device codes per IP and per browser session (RFC 8628 §5.1) */
  deviceCodeFailures: { points: 20, duration: 15 * 60 },
  /** sign-ups and reset requests per client IP */
  signUpsPerIp: { points: 10, duration: 60 * 60 },
  resetRequestsPerIp: { points: 10, duration: 60 * 60 },
  /** dynamic client registrations (RFC 7591) per client IP; SECURITY.md C.19 */
  registrationsPerIp: { points: 20, duration: 60 * 60 },
  /** reset and verification mails per account */
  mailsPerAccount: { points: 5, duration: 60 * 60 },
} as const;

export class Throttled extends Error {
  override name = 'Throttled';
  constructor(readonly retryAfterSeconds: number) {
    super(`too many attempts; try again in ${retryAfterSeconds} s`);
  }
}

const secondsFrom = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** A counter's row as rate-limiter-flexible keeps it: points used, and when they lapse (ms). */
type CounterRow = { key: string; points: number; expire: string | number | null };

/**
 * Seconds to wait while a counter is used up, else 0 — the limiter's own reading of its row
 * (`get`: remaining points none, time before the next one above zero).
 */
function waitFor(row: CounterRow | undefined, limit: number, now: number): number {
  if (!row || row.expire === null) return 0;
  const msBeforeNext = Number(row.expire) - now;
  return row.points >= limit && msBeforeNext > 0 ? secondsFrom(msBeforeNext) : 0;
}

/** What `checkSignIn` found of an account's counters: the keys a success must clear. */
export type SignInCheck = { readonly held: readonly string[] };

export type ThrottleService = ReturnType<typeof createThrottleService>;

export function createThrottleService(knex: Knex, devicePollIntervalSeconds?: number) {
  const storeClient = knexRateLimitClient(knex);
  const limiter = (keyPrefix: string, points: number, duration: number) =>
    new RateLimiterPostgres({ storeClient, storeType: 'pool', tableName: 'rate_limits', tableCreated: true, clearExpiredByTimeout: false, keyPrefix, points, duration });

  const L = THROTTLE_LIMITS;
  const accountFailures = limiter('acct-fail', Number.MAX_SAFE_INTEGER, L.accountFailureWindowSeconds);
  const accountDelay = limiter('acct-delay', 1, L.accountMaxDelaySeconds);
  const ipFailures = limiter('ip-fail', L.ipFailures.points, L.ipFailures.duration);
  const deviceIp = limiter('device-ip', L.deviceCodeFailures.points, L.deviceCodeFailures.duration);
  const deviceSession = limiter('device-session', L.deviceCodeFailures.points, L.deviceCodeFailures.duration);
  const signUps = limiter('signup-ip', L.signUpsPerIp.points, L.signUpsPerIp.duration);
  const resets = limiter('reset-ip', L.resetRequestsPerIp.points, L.resetRequestsPerIp.duration);
  const mails = limiter('mail-acct', L.mailsPerAccount.points, L.mailsPerAccount.duration);
  const registrations = limiter('dcr-ip', L.registrationsPerIp.points, L.registrationsPerIp.duration);
  // one poll per interval per device code (RFC 8628 §3.5); a second of slack (above 1 s) so
  // network jitter does not punish a device that waits the interval as told
  const devicePolls = devicePollIntervalSeconds ? limiter('device-poll', 1, Math.max(1, devicePollIntervalSeconds - 1)) : undefined;

  /**
   * Reads counters in one prepared query (the limiter's own `get` is a query per counter, an
   * unnamed statement PostgreSQL plans each time): the rows on record, and the longest wait a
   * used-up counter among them imposes (0 when none does).
   */
  async function readCounters(counters: ReadonlyArray<readonly [RateLimiterPostgres, string]>) {
    const keys = counters.map(([l, key]) => l.getKey(key));
    const rows = (await knex('rate_limits').whereIn('key', keys).select('key', 'points', 'expire')) as CounterRow[];
    const now = Date.now();
    const wait = Math.max(0, ...counters.map(([l], i) => waitFor(rows.find((r) => r.key === keys[i]), l.points, now)));
    return { rows, wait };
  }

  async function take(l: RateLimiterPostgres, key: string) {
    try {
      await l.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new Throttled(secondsFrom(err.msBeforeNext));
      throw err;
    }
  }

  return {
    /**
     * Throws Throttled when a sign-in for this account or from this IP must wait. Otherwise
     * answers which of the account's counters are on record, for `recordSignInSuccess` to
     * clear: the account's delay, the IP's failures and the account's failures are read in
     * one query (the account's failures never impose a wait of their own).
     */
    async checkSignIn(accountKey: string, ip: string): Promise<SignInCheck> {
      const { rows, wait } = await readCounters([[accountDelay, accountKey], [ipFailures, ip], [accountFailures, accountKey]]);
      if (wait > 0) throw new Throttled(wait);
      const accountKeys = [accountDelay.getKey(accountKey), accountFailures.getKey(accountKey)];
      return { held: rows.filter((r) => accountKeys.includes(r.key)).map((r) => r.key) };
    },

    async recordSignInFailure(accountKey: string, ip: string) {
      const [count] = await Promise.all([
        accountFailures.penalty(accountKey, 1).then((r) => r.consumedPoints),
        ipFailures.penalty(ip, 1),
      ]);
      const over = count - L.accountFreeFailures;
      if (over > 0) {
        const delay = Math.min(2 ** over, L.accountMaxDelaySeconds);
        await accountDelay.block(accountKey, delay);
      }
    },

    /**
     * Clears the account's failure count and delay that the sign-in's check found. A sign-in
     * with no failures before it (the usual case) has nothing to clear and costs no query. A
     * failure recorded by another attempt between the check and this success is left standing,
     * as if it had come after: it can only slow the account.
     */
    async recordSignInSuccess(check: SignInCheck) {
      if (check.held.length) await knex('rate_limits').whereIn('key', check.held).delete();
    },

    /** Clears the account's failure count and delay outright (a password set by reset link). */
    async clearSignInFailures(accountKey: string) {
      await knex('rate_limits').whereIn('key', [accountFailures.getKey(accountKey), accountDelay.getKey(accountKey)]).delete();
    },

    async checkDeviceCodeEntry(ip: string, sessionKey: string | undefined) {
      const { wait } = await readCounters(sessionKey ? [[deviceIp, ip], [deviceSession, sessionKey]] : [[deviceIp, ip]]);
      if (wait > 0) throw new Throttled(wait);
    },

    async recordDeviceCodeFailure(ip: string, sessionKey: string | undefined) {
      await Promise.all([deviceIp.penalty(ip, 1), sessionKey ? deviceSession.penalty(sessionKey, 1) : undefined]);
    },

    /** Throws Throttled when this IP has registered as many clients as it may for now. */
    async checkRegistration(ip: string) {
      const { wait } = await readCounters([[registrations, ip]]);
      if (wait > 0) throw new Throttled(wait);
    },
    /** Counts one client registered from this IP. */
    async recordRegistration(ip: string) {
      await registrations.penalty(ip, 1);
    },

    signUp: (ip: string) => take(signUps, ip),
    resetRequest: (ip: string) => take(resets, ip),
    /** false when this account was sent enough mail for now (the caller answers as usual). */
    async mailAllowed(accountId: string): Promise<boolean> {
      try {
        await mails.consume(accountId);
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw err;
      }
    },

    /**
     * Counts one poll of a pending device code; false when the previous poll of the same code
     * was less than the polling interval ago (the client must be told `slow_down`).
     */
    async devicePollAllowed(key: string): Promise<boolean> {
      if (!devicePolls) return true;
      try {
        await devicePolls.consume(key);
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw err;
      }
    },

    /** For the prune job: one batch of counters that ran out more than an hour ago. */
    async deleteExpiredBatch(limit: number) {
      const before = Date.now() - 3600_000;
      return deleteBatch(knex, 'rate_limits', (q) => q.where('expire', '<', before), limit);
    },
  };
}
