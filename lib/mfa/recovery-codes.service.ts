import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { MfaQueries } from './mfa.queries.js';

/**
 * Recovery codes for when the phone or the passkey is lost. SECURITY.md D.29.
 *
 * Each code carries ~78 random bits (16 characters of a 30-letter alphabet). That is far beyond
 * offline guessing even with a fast hash, so codes are stored as SHA-256 (salted with the
 * account id) rather than with argon2 — which keeps the lookup a single indexed
 * `UPDATE … WHERE code_hash = ? AND used_at IS NULL`: the atomic, single-use spend.
 */
export const RECOVERY_CODES = {
  count: 10,
  length: 16,
  groupSize: 4,
  /** digits and capitals without the look-alikes 0/O, 1/I/L and U: easy to read and type */
  alphabet: '23456789ABCDEFGHJKMNPQRSTVWXYZ',
} as const;

export function normalizeRecoveryCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]+/g, '');
}

function newCode(): string {
  const letters = Array.from({ length: RECOVERY_CODES.length }, () => RECOVERY_CODES.alphabet[crypto.randomInt(RECOVERY_CODES.alphabet.length)]);
  const groups: string[] = [];
  for (let i = 0; i < letters.length; i += RECOVERY_CODES.groupSize) groups.push(letters.slice(i, i + RECOVERY_CODES.groupSize).join(''));
  return groups.join('-');
}

const hashCode = (accountId: string, code: string) =>
  crypto.createHash('sha256').update(`latch-recovery-code\0${accountId}\0${normalizeRecoveryCode(code)}`).digest('base64url');

export type RecoveryCodeService = ReturnType<typeof createRecoveryCodeService>;

export function createRecoveryCodeService(deps: { knex: Knex; queries: MfaQueries }) {
  const { knex, queries } = deps;

  return {
    /** Replaces the account's codes with ten new ones, returned once and never again. */
    async regenerate(accountId: string, db: Knex = knex): Promise<string[]> {
      const codes = Array.from({ length: RECOVERY_CODES.count }, newCode);
      const rows = codes.map((code) => ({ id: crypto.randomUUID(), code_hash: hashCode(accountId, code) }));
      if (db.isTransaction) await queries.replaceRecoveryCodes(accountId, rows, db);
      else await knex.transaction((trx) => queries.replaceRecoveryCodes(accountId, rows, trx));
      return codes;
    },

    /** Spends a code; true for exactly one caller, however many race with the same code. */
    async consume(accountId: string, code: string): Promise<boolean> {
      const normalized = normalizeRecoveryCode(code);
      if (normalized.length !== RECOVERY_CODES.length || [...normalized].some((c) => !RECOVERY_CODES.alphabet.includes(c))) return false;
      return queries.consumeRecoveryCode(accountId, hashCode(accountId, normalized));
    },

    remaining: (accountId: string) => queries.countUnusedRecoveryCodes(accountId),
    remove: (accountId: string) => queries.deleteRecoveryCodes(accountId),
  };
}
