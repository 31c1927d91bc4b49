import type { Knex } from 'knex';
import type { AuditService } from '../audit/audit.service.js';
import { normalizeEmail, type AccountService } from '../accounts/accounts.service.js';
import type { Sealer } from '../crypto/seal.js';
import { Throttled, type SignInCheck, type ThrottleService } from '../throttling/throttle.service.js';
import {
  MULTI_FACTOR_LEVEL,
  passkeyAlone,
  requestedLevel,
  withSecondFactor,
  type LoginContext,
  type SecondFactorMethod,
} from './authentication-context.js';
import { MfaError } from './mfa-errors.js';
import type { MfaQueries } from './mfa.queries.js';
import { createPasskeyService } from './passkeys.service.js';
import { createRecoveryCodeService } from './recovery-codes.service.js';
import { createTotpService, TOTP } from './totp.service.js';

/**
 * Second factors as a whole: which an account has, and the sign-in rules around them.
 *
 * A sign-in whose password was right but whose second factor is pending is a row keyed by the
 * interaction uid (never a hidden form field); oidc-provider binds the interaction to the
 * browser by cookie. It lives ten minutes and is spent (deleted) when the sign-in finishes.
 *
 * Wrong TOTP and recovery codes count in the same per-account throttle as wrong passwords
 * (SECURITY.md D.26). They also count under a second key that only a completed second factor
 * clears — otherwise someone who knows the password could reset the counter with it between
 * guesses at the code.
 */
export const PENDING_SIGN_IN_TTL_SECONDS = 10 * 60;

export type MfaMode = 'optional' | 'required' | 'off';
export type SignedIn = LoginContext & { accountId: string };
export type NextStep = 'done' | 'second-factor' | 'enrol';

const secondFactorKey = (accountId: string) => `second-factor:${accountId}`;

export type MfaService = ReturnType<typeof createMfaService>;

export function createMfaService(deps: {
  knex: Knex;
  queries: MfaQueries;
  sealer: Sealer;
  throttle: ThrottleService;
  accounts: AccountService;
  issuer: string;
  mode: MfaMode;
  log?: { debug(obj: object, msg: string): void };
  audit?: Pick<AuditService, 'record'>;
}) {
  const { knex, queries, throttle, accounts, mode } = deps;
  const audit = async (event: Parameters<AuditService['record']>[0]) => deps.audit?.record(event);

  /** Runs one sign-in step and writes its outcome to the audit log. */
  async function audited<T>(type: string, accountId: string, step: () => Promise<T>, details?: Record<string, unknown>): Promise<T> {
    try {
      const result = await step();
      await audit({ type, actor: accountId, subject: accountId, details });
      return result;
    } catch (err) {
      await audit({ type, outcome: err instanceof Throttled ? 'throttled' : 'failure', subject: accountId, details });
      throw err;
    }
  }

  /** Runs a change to an account's factors and records it once it is done. */
  async function changed<T>(type: string, accountId: string, change: () => Promise<T>, details?: Record<string, unknown>): Promise<T> {
    const result = await change();
    await audit({ type, actor: accountId, subject: accountId, details });
    return result;
  }
  const issuerHost = new URL(deps.issuer).host;
  const totp = createTotpService({ knex, queries, sealer: deps.sealer, issuerName: `Latch (${issuerHost})` });
  const passkeys = createPasskeyService({ queries, issuer: deps.issuer, rpName: `Latch (${issuerHost})`, log: deps.log });
  const recoveryCodes = createRecoveryCodeService({ knex, queries });

  async function throttleKeysOf(accountId: string): Promise<string[]> {
    const account = await accounts.findById(accountId);
    return account ? [normalizeEmail(account.email).slice(0, 320), secondFactorKey(accountId)] : [secondFactorKey(accountId)];
  }

  async function checkThrottle(accountId: string, ip: string): Promise<SignInCheck[]> {
    const checks: SignInCheck[] = [];
    for (const key of await throttleKeysOf(accountId)) checks.push(await throttle.checkSignIn(key, ip));
    return checks;
  }

  async function recordFailure(accountId: string, ip: string) {
    for (const key of await throttleKeysOf(accountId)) await throttle.recordSignInFailure(key, ip);
  }

  /** Clears the counters the checks found. */
  async function recordSuccess(checks: readonly SignInCheck[]) {
    for (const check of checks) await throttle.recordSignInSuccess(check);
  }

  async function livePendingSignIn(interactionUid: string) {
    const pending = await queries.findPendingSignIn(interactionUid);
    if (!pending) throw MfaError.expired();
    return pending;
  }

  /**
   * Enrolling during sign-in is only for an account with no second factor yet: otherwise a
   * password alone could replace the factor it is being asked for.
   */
  async function pendingEnrolment(interactionUid: string) {
    const pending = await livePendingSignIn(interactionUid);
    if (pending.enrolled_method || (await hasSecondFactor(pending.account_id))) {
      throw new MfaError('second_factor_exists', 'This account already has a second factor. Use it to sign in.', 403);
    }
    return pending;
  }

  /** Ends the pending sign-in (once) and says how the person authenticated. */
  async function finish(interactionUid: string, method: SecondFactorMethod): Promise<SignedIn> {
    const pending = await queries.takePendingSignIn(interactionUid);
    if (!pending) throw MfaError.expired();
    return { accountId: pending.account_id, ...withSecondFactor(pending.amr, method) };
  }

  async function factorsOf(accountId: string) {
    const [app, keys, remainingRecoveryCodes] = await Promise.all([totp.describe(accountId), passkeys.list(accountId), recoveryCodes.remaining(accountId)]);
    return { totp: app, passkeys: keys, remainingRecoveryCodes };
  }

  const hasSecondFactor = (accountId: string) => queries.hasSecondFactor(accountId);

  /** With LATCH_MFA=required an account keeps at least one factor. */
  async function assertNotLastFactor(accountId: string, removing: number) {
    if (mode !== 'required') return;
    const { totp: app, passkeys: keys } = await factorsOf(accountId);
    if ((app ? 1 : 0) + keys.length - removing < 1) {
      throw new MfaError('last_factor', 'This server requires a second factor. Add another one before removing this one.', 409);
    }
  }

  /** With no factor left the codes mean nothing; dropping them lets the next factor come with fresh ones. */
  async function dropRecoveryCodesIfNoFactor(accountId: string) {
    if (!(await hasSecondFactor(accountId))) await recoveryCodes.remove(accountId);
  }

  /** New recovery codes when the account has none left (its first factor); else undefined. */
  async function recoveryCodesAfterEnrolment(accountId: string): Promise<string[] | undefined> {
    return (await recoveryCodes.remaining(accountId)) === 0 ? recoveryCodes.regenerate(accountId) : undefined;
  }

  return {
    mode,
    totp,
    passkeys,
    recoveryCodes,
    factorsOf,
    hasSecondFactor,

    /**
     * After a correct password (or an upstream sign-in, whose `firstFactors` are ['fed']): finish now, ask for the second factor the account has, or —
     * when LATCH_MFA=required or the app asked for acr urn:latch:acr:mfa — enrol one first.
     */
    async afterPassword(interactionUid: string, accountId: string, acrValues: unknown, firstFactors: string[] = ['pwd']): Promise<NextStep> {
      if (mode === 'off') return 'done';
      let next: NextStep = 'done';
      if (await hasSecondFactor(accountId)) next = 'second-factor';
      else if (mode === 'required' || requestedLevel(acrValues) >= MULTI_FACTOR_LEVEL) next = 'enrol';
      if (next !== 'done') {
        await queries.upsertPendingSignIn({
          interaction_uid: interactionUid,
          account_id: accountId,
          amr: firstFactors,
          expires_at: new Date(Date.now() + PENDING_SIGN_IN_TTL_SECONDS * 1000),
        });
      }
      return next;
    },

    pendingSignIn: livePendingSignIn,

    /** The second step with an authenticator app code. Throws Throttled or MfaError. */
    async verifyTotp(interactionUid: string, code: string, ip: string): Promise<SignedIn> {
      const pending = await livePendingSignIn(interactionUid);
      return audited('sign_in.totp', pending.account_id, async () => {
        const checks = await checkThrottle(pending.account_id, ip);
        if (!(await totp.verify(pending.account_id, code))) {
          await recordFailure(pending.account_id, ip);
          throw MfaError.invalidCode();
        }
        await recordSuccess(checks);
        return finish(interactionUid, 'otp');
      });
    },

    /** The second step with a recovery code, which is spent. Throws Throttled or MfaError. */
    async verifyRecoveryCode(interactionUid: string, code: string, ip: string): Promise<SignedIn> {
      const pending = await livePendingSignIn(interactionUid);
      return audited('sign_in.recovery_code', pending.account_id, async () => {
        const checks = await checkThrottle(pending.account_id, ip);
        if (!(await recoveryCodes.consume(pending.account_id, code))) {
          await recordFailure(pending.account_id, ip);
          throw MfaError.invalidCode();
        }
        await recordSuccess(checks);
        return finish(interactionUid, 'otp');
      });
    },

    async secondFactorPasskeyOptions(interactionUid: string) {
      const pending = await livePendingSignIn(interactionUid);
      return passkeys.authenticationOptions('passkey-second-factor', interactionUid, pending.account_id);
    },

    /** The second step with one of the account's passkeys. */
    async verifySecondFactorPasskey(interactionUid: string, response: unknown, ip: string): Promise<SignedIn> {
      const pending = await livePendingSignIn(interactionUid);
      return audited(
        'sign_in.passkey',
        pending.account_id,
        async () => {
          const checks = await checkThrottle(pending.account_id, ip);
          let method: SecondFactorMethod;
          try {
            ({ amr: method } = await passkeys.verifyAuthentication('passkey-second-factor', interactionUid, response, pending.account_id));
          } catch (err) {
            if (err instanceof MfaError) await recordFailure(pending.account_id, ip);
            throw err;
          }
          await recordSuccess(checks);
          return finish(interactionUid, method);
        },
        { step: 'second_factor' },
      );
    },

    passwordlessOptions: (interactionUid: string) => passkeys.authenticationOptions('passkey-sign-in', interactionUid),

    /** Sign-in with a passkey alone (discoverable credential, user verification required). */
    async passwordlessSignIn(interactionUid: string, response: unknown, ip: string): Promise<SignedIn> {
      let result: Awaited<ReturnType<typeof passkeys.verifyAuthentication>>;
      try {
        result = await passkeys.verifyAuthentication('passkey-sign-in', interactionUid, response);
      } catch (err) {
        if (err instanceof MfaError && err.accountId) await recordFailure(err.accountId, ip);
        await audit({ type: 'sign_in.passkey', outcome: 'failure', subject: err instanceof MfaError ? err.accountId : undefined, details: { step: 'passwordless' } });
        throw err;
      }
      return audited(
        'sign_in.passkey',
        result.accountId,
        async () => {
          const checks = await checkThrottle(result.accountId, ip);
          const account = await accounts.findById(result.accountId);
          if (!account || account.disabled || !result.userVerified) throw MfaError.passkeyFailed();
          await recordSuccess(checks);
          return { accountId: result.accountId, ...passkeyAlone(result.amr) };
        },
        { step: 'passwordless' },
      );
    },

    // ---- enrolment during sign-in (LATCH_MFA=required, or acr step-up without a factor)

    async beginTotpEnrolment(interactionUid: string) {
      const pending = await pendingEnrolment(interactionUid);
      const account = await accounts.findById(pending.account_id);
      if (!account) throw MfaError.expired();
      return totp.beginEnrolment(account.id, account.email);
    },

    /** Confirms the new app with a code; returns the account's first recovery codes, to show once. */
    async confirmTotpEnrolment(interactionUid: string, code: string): Promise<{ recoveryCodes: string[] }> {
      const pending = await pendingEnrolment(interactionUid);
      if (!(await totp.confirmEnrolment(pending.account_id, code))) throw MfaError.invalidCode();
      await queries.markEnrolled(interactionUid, pending.account_id, 'otp');
      await audit({ type: 'mfa.totp_added', actor: pending.account_id, subject: pending.account_id, details: { during: 'sign_in' } });
      return { recoveryCodes: await recoveryCodes.regenerate(pending.account_id) };
    },

    async passkeyEnrolmentOptions(interactionUid: string) {
      const pending = await pendingEnrolment(interactionUid);
      const account = await accounts.findById(pending.account_id);
      if (!account) throw MfaError.expired();
      return passkeys.registrationOptions(account, interactionUid);
    },

    async confirmPasskeyEnrolment(interactionUid: string, response: unknown, name: string): Promise<{ recoveryCodes: string[] }> {
      const pending = await pendingEnrolment(interactionUid);
      const created = await passkeys.verifyRegistration(pending.account_id, interactionUid, response, name);
      await queries.markEnrolled(interactionUid, pending.account_id, created.amr);
      await audit({ type: 'mfa.passkey_added', actor: pending.account_id, subject: pending.account_id, details: { during: 'sign_in', passkeyId: created.id } });
      return { recoveryCodes: await recoveryCodes.regenerate(pending.account_id) };
    },

    /** Finishes a sign-in whose factor was enrolled (and so proven) during it. */
    async finishEnrolment(interactionUid: string): Promise<SignedIn> {
      const pending = await livePendingSignIn(interactionUid);
      if (!pending.enrolled_method) throw new MfaError('enrolment_required', 'Set up a second factor to continue.');
      return finish(interactionUid, pending.enrolled_method as SecondFactorMethod);
    },

    // ---- managing factors from the account pages and the API (the caller checks recent sign-in)

    async startTotpEnrolment(accountId: string) {
      const account = await accounts.findById(accountId);
      if (!account) throw MfaError.expired();
      return totp.beginEnrolment(account.id, account.email);
    },

    /** Activates the app being enrolled (replacing an earlier one); first factor: recovery codes. */
    async confirmTotp(accountId: string, code: string): Promise<{ recoveryCodes?: string[] }> {
      if (!(await totp.confirmEnrolment(accountId, code))) throw MfaError.invalidCode();
      return changed('mfa.totp_added', accountId, async () => ({ recoveryCodes: await recoveryCodesAfterEnrolment(accountId) }));
    },

    /** Registration options; the challenge is bound to the caller's browser session. */
    async passkeyOptionsForAccount(accountId: string, binding: string) {
      const account = await accounts.findById(accountId);
      if (!account) throw MfaError.expired();
      return passkeys.registrationOptions(account, binding);
    },

    async addPasskey(accountId: string, binding: string, response: unknown, name: string) {
      const created = await passkeys.verifyRegistration(accountId, binding, response, name);
      return changed('mfa.passkey_added', accountId, async () => ({ id: created.id, name: created.name, recoveryCodes: await recoveryCodesAfterEnrolment(accountId) }), { passkeyId: created.id });
    },

    async removeTotp(accountId: string) {
      if (!(await totp.isEnrolled(accountId))) throw new MfaError('not_found', 'There is no authenticator app to remove.', 404);
      await assertNotLastFactor(accountId, 1);
      await changed('mfa.totp_removed', accountId, async () => {
        await totp.remove(accountId);
        await dropRecoveryCodesIfNoFactor(accountId);
      });
    },

    async removePasskey(accountId: string, id: string) {
      if (!(await passkeys.list(accountId)).some((c) => c.id === id)) throw new MfaError('not_found', 'There is no such passkey.', 404);
      await assertNotLastFactor(accountId, 1);
      await changed(
        'mfa.passkey_removed',
        accountId,
        async () => {
          await passkeys.remove(accountId, id);
          await dropRecoveryCodesIfNoFactor(accountId);
        },
        { passkeyId: id },
      );
    },

    async renamePasskey(accountId: string, id: string, name: string) {
      if (!(await passkeys.rename(accountId, id, name))) throw new MfaError('not_found', 'There is no such passkey.', 404);
    },

    async regenerateRecoveryCodes(accountId: string) {
      if (!(await hasSecondFactor(accountId))) throw new MfaError('no_second_factor', 'Set up an authenticator app or a passkey first.', 409);
      return changed('mfa.recovery_codes_regenerated', accountId, async () => ({ recoveryCodes: await recoveryCodes.regenerate(accountId) }));
    },

    recoveryCodesAfterEnrolment,

    /** Removes every second factor and recovery code of an account. */
    async removeAll(accountId: string) {
      await knex.transaction(async (trx) => {
        await queries.deleteTotp(accountId, trx);
        for (const c of await queries.listCredentials(accountId, trx)) await queries.deleteCredential(accountId, c.id, trx);
        await queries.deleteRecoveryCodes(accountId, trx);
      });
    },

    /** Housekeeping for the prune job, one batch of each: expired challenges, pending sign-ins and enrolments. */
    pruneTasks: [
      { name: 'webauthn_challenges', deleteBatch: (limit: number) => queries.deleteExpiredChallengesBatch(limit) },
      { name: 'mfa_pending_sign_ins', deleteBatch: (limit: number) => queries.deleteExpiredPendingSignInsBatch(limit) },
      {
        name: 'mfa_totp_factors',
        deleteBatch: (limit: number) => queries.deleteStalePendingTotpBatch(new Date(Date.now() - TOTP.pendingEnrolmentSeconds * 1000 * 4), limit),
      },
    ],
  };
}
