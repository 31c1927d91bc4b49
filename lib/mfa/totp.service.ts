import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Sealer } from '../crypto/seal.js';
import type { MfaQueries, TotpFactorRow } from './mfa.queries.js';

/**
 * Authenticator apps (RFC 6238 TOTP, through otplib). SECURITY.md D.28.
 *
 * The numbers are the ones every authenticator app understands (SHA-1, 6 digits, 30 s); the
 * rest is what makes a 6-digit code safe to accept:
 */
export const TOTP = {
  periodSeconds: 30,
  digits: 6,
  /** RFC 4226 §4 asks for ≥ 128 bits and recommends 160; otplib draws them from a CSPRNG */
  secretBytes: 20,
  /** RFC 6238 §5.2: accept one step either side for clock drift — no more (±2 is refused) */
  driftSteps: 1,
  /** an enrolment not confirmed within this time starts over with a new secret */
  pendingEnrolmentSeconds: 15 * 60,
} as const;

/** AAD for sealing: a sealed secret only opens as a TOTP secret of this very factor. */
const sealContext = (factorId: string) => `mfa-totp:${factorId}`;
const CODE_SHAPE = new RegExp(`^\\d{${TOTP.digits}}$`);

export type TotpEnrolment = { factorId: string; secret: string; otpauthUri: string; qrCodeDataUrl: string };

export type TotpService = ReturnType<typeof createTotpService>;

export function createTotpService(deps: { knex: Knex; queries: MfaQueries; sealer: Sealer; issuerName: string }) {
  const { knex, queries, sealer, issuerName } = deps;

  /** The code's time step if it is valid for the secret within ±1 step and after `afterStep`. */
  async function matchStep(factor: TotpFactorRow, code: string, now: number): Promise<number | undefined> {
    const token = code.replace(/\s+/g, '');
    if (!CODE_SHAPE.test(token)) return undefined;
    const secret = sealer.open(factor.secret_sealed, sealContext(factor.id));
    const result = await verify({
      secret,
      token,
      period: TOTP.periodSeconds,
      digits: TOTP.digits,
      epoch: Math.floor(now / 1000),
      epochTolerance: TOTP.driftSteps * TOTP.periodSeconds,
      ...(factor.last_used_step !== null ? { afterTimeStep: factor.last_used_step } : {}),
    });
    return result.valid && 'timeStep' in result ? result.timeStep : undefined;
  }

  async function enrolmentFor(factorId: string, secret: string, label: string): Promise<TotpEnrolment> {
    const otpauthUri = generateURI({ issuer: issuerName, label, secret, digits: TOTP.digits, period: TOTP.periodSeconds });
    return { factorId, secret, otpauthUri, qrCodeDataUrl: await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: 'M', margin: 2, width: 220 }) };
  }

  return {
    /**
     * Starts (or resumes, so a reload shows the same QR code) enrolling an authenticator app.
     * The factor stays inactive until `confirmEnrolment` sees a valid code from it.
     */
    async beginEnrolment(accountId: string, label: string, now = Date.now()): Promise<TotpEnrolment> {
      const pending = await queries.findPendingTotp(accountId, new Date(now - TOTP.pendingEnrolmentSeconds * 1000));
      if (pending) return enrolmentFor(pending.id, sealer.open(pending.secret_sealed, sealContext(pending.id)), label);
      const id = crypto.randomUUID();
      const secret = generateSecret({ length: TOTP.secretBytes });
      await queries.deletePendingTotp(accountId);
      await queries.insertTotp({ id, account_id: accountId, secret_sealed: sealer.seal(secret, sealContext(id)) });
      return enrolmentFor(id, secret, label);
    },

    /** Activates the pending app when `code` is valid; returns false otherwise. */
    async confirmEnrolment(accountId: string, code: string, now = Date.now()): Promise<boolean> {
      const pending = await queries.findPendingTotp(accountId, new Date(now - TOTP.pendingEnrolmentSeconds * 1000));
      if (!pending) return false;
      const step = await matchStep(pending, code, now);
      if (step === undefined) return false;
      return knex.transaction((trx) => queries.confirmTotp(pending.id, accountId, step, trx));
    },

    /** Checks a sign-in code; each time step is accepted once per account (replay refused). */
    async verify(accountId: string, code: string, now = Date.now()): Promise<boolean> {
      const factor = await queries.findConfirmedTotp(accountId);
      if (!factor) return false;
      const step = await matchStep(factor, code, now);
      return step !== undefined && (await queries.claimTotpStep(factor.id, step));
    },

    async isEnrolled(accountId: string): Promise<boolean> {
      return !!(await queries.findConfirmedTotp(accountId));
    },

    async describe(accountId: string) {
      const factor = await queries.findConfirmedTotp(accountId);
      return factor ? { id: factor.id, createdAt: factor.confirmed_at ?? factor.created_at, lastUsedAt: factor.last_used_at } : undefined;
    },

    remove: (accountId: string) => queries.deleteTotp(accountId),
  };
}
