import type { Knex } from 'knex';
import { deleteBatch } from '../db/delete-batch.js';

/** The only module that talks to the database about second factors. */

export type TotpFactorRow = {
  id: string;
  account_id: string;
  secret_sealed: string;
  confirmed: boolean;
  last_used_step: number | null;
  created_at: Date;
  confirmed_at: Date | null;
  last_used_at: Date | null;
};

export type WebAuthnCredentialRow = {
  id: string;
  account_id: string;
  credential_id: string;
  public_key: string;
  counter: number;
  transports: string[];
  device_type: 'singleDevice' | 'multiDevice';
  backup_eligible: boolean;
  backed_up: boolean;
  aaguid: string | null;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
};

export type RecoveryCodeRow = { id: string; account_id: string; code_hash: string; used_at: Date | null; created_at: Date };

export type ChallengePurpose = 'passkey-sign-in' | 'passkey-second-factor' | 'passkey-enrol';
export type ChallengeRow = {
  id: string;
  purpose: ChallengePurpose;
  binding: string;
  account_id: string | null;
  challenge: string;
  expires_at: Date;
  created_at: Date;
};

export type PendingSignInRow = {
  interaction_uid: string;
  account_id: string;
  amr: string[];
  enrolled_method: string | null;
  expires_at: Date;
  created_at: Date;
};

export type MfaQueries = ReturnType<typeof createMfaQueries>;

// bigint columns come back as numbers through pg's parser but as strings through PGlite
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const totpRow = (r: TotpFactorRow | undefined) => r && { ...r, last_used_step: num(r.last_used_step) };
const credentialRow = (r: WebAuthnCredentialRow) => ({ ...r, counter: Number(r.counter) });

export function createMfaQueries(knex: Knex) {
  return {
    /** Whether the account has a confirmed authenticator app or a passkey: one read, on every password sign-in. */
    async hasSecondFactor(accountId: string): Promise<boolean> {
      const totp = knex('mfa_totp_factors').select(knex.raw('1')).where({ account_id: accountId, confirmed: true });
      const passkey = knex('webauthn_credentials').select(knex.raw('1')).where({ account_id: accountId });
      const row = await knex.first(knex.raw('exists ? or exists ? as has', [totp, passkey]));
      return row?.has === true;
    },

    // ---- authenticator apps (TOTP)

    async findConfirmedTotp(accountId: string, db: Knex = knex) {
      return totpRow(await db<TotpFactorRow>('mfa_totp_factors').where({ account_id: accountId, confirmed: true }).first());
    },

    async findPendingTotp(accountId: string, notBefore: Date, db: Knex = knex) {
      return totpRow(
        await db<TotpFactorRow>('mfa_totp_factors')
          .where({ account_id: accountId, confirmed: false })
          .andWhere('created_at', '>', notBefore)
          .orderBy('created_at', 'desc')
          .first(),
      );
    },

    async deletePendingTotp(accountId: string, db: Knex = knex) {
      await db('mfa_totp_factors').where({ account_id: accountId, confirmed: false }).delete();
    },

    async insertTotp(row: Pick<TotpFactorRow, 'id' | 'account_id' | 'secret_sealed'>, db: Knex = knex) {
      await db('mfa_totp_factors').insert(row);
    },

    /** Makes a pending factor the account's authenticator app, replacing any earlier one. */
    async confirmTotp(id: string, accountId: string, usedStep: number, db: Knex.Transaction) {
      await db('mfa_totp_factors').where({ account_id: accountId, confirmed: true }).delete();
      const now = new Date();
      const updated = await db('mfa_totp_factors')
        .where({ id, account_id: accountId, confirmed: false })
        .update({ confirmed: true, confirmed_at: now, last_used_step: usedStep, last_used_at: now });
      return updated === 1;
    },

    /**
     * Records that a code of `step` was accepted — only if no code of this or a later step was
     * accepted before. Two requests racing with the same code: exactly one gets `true`.
     */
    async claimTotpStep(id: string, step: number, db: Knex = knex): Promise<boolean> {
      const updated = await db('mfa_totp_factors')
        .where({ id, confirmed: true })
        .andWhere((q) => q.whereNull('last_used_step').orWhere('last_used_step', '<', step))
        .update({ last_used_step: step, last_used_at: new Date() });
      return updated === 1;
    },

    async deleteTotp(accountId: string, db: Knex = knex) {
      return db('mfa_totp_factors').where({ account_id: accountId }).delete();
    },

    /** For the prune job: one batch of enrolments never confirmed and begun before `olderThan`. */
    async deleteStalePendingTotpBatch(olderThan: Date, limit: number) {
      return deleteBatch(knex, 'mfa_totp_factors', (q) => q.where({ confirmed: false }).andWhere('created_at', '<', olderThan), limit);
    },

    // ---- passkeys (WebAuthn)

    async listCredentials(accountId: string, db: Knex = knex) {
      const rows = await db<WebAuthnCredentialRow>('webauthn_credentials').where({ account_id: accountId }).orderBy('created_at');
      return rows.map(credentialRow);
    },

    async findCredential(credentialId: string, db: Knex = knex) {
      const row = await db<WebAuthnCredentialRow>('webauthn_credentials').where({ credential_id: credentialId }).first();
      return row && credentialRow(row);
    },

    async insertCredential(row: Omit<WebAuthnCredentialRow, 'created_at' | 'last_used_at'>, db: Knex = knex) {
      await db('webauthn_credentials').insert(row);
    },

    /**
     * Moves the signature counter forward after a verified assertion — only from the value the
     * verification saw, so two racing uses of one assertion cannot both succeed.
     */
    async recordCredentialUse(
      id: string,
      seen: { counter: number },
      next: { counter: number; backedUp: boolean },
      db: Knex = knex,
    ): Promise<boolean> {
      const updated = await db('webauthn_credentials')
        .where({ id, counter: seen.counter })
        .update({ counter: next.counter, backed_up: next.backedUp, last_used_at: new Date() });
      return updated === 1;
    },

    async renameCredential(accountId: string, id: string, name: string, db: Knex = knex) {
      return db('webauthn_credentials').where({ account_id: accountId, id }).update({ name });
    },

    async deleteCredential(accountId: string, id: string, db: Knex = knex) {
      return db('webauthn_credentials').where({ account_id: accountId, id }).delete();
    },

    // ---- recovery codes

    async replaceRecoveryCodes(accountId: string, rows: Array<Pick<RecoveryCodeRow, 'id' | 'code_hash'>>, db: Knex = knex) {
      await db('mfa_recovery_codes').where({ account_id: accountId }).delete();
      if (rows.length) await db('mfa_recovery_codes').insert(rows.map((r) => ({ ...r, account_id: accountId })));
    },

    /** Spends a code: `UPDATE … WHERE used_at IS NULL`, so one code works exactly once. */
    async consumeRecoveryCode(accountId: string, codeHash: string, db: Knex = knex): Promise<boolean> {
      const updated = await db('mfa_recovery_codes')
        .where({ account_id: accountId, code_hash: codeHash })
        .whereNull('used_at')
        .update({ used_at: new Date() });
      return updated === 1;
    },

    async countUnusedRecoveryCodes(accountId: string, db: Knex = knex): Promise<number> {
      const row = await db('mfa_recovery_codes').where({ account_id: accountId }).whereNull('used_at').count<{ count: string | number }[]>('id as count').first();
      return Number(row?.count ?? 0);
    },

    async deleteRecoveryCodes(accountId: string, db: Knex = knex) {
      await db('mfa_recovery_codes').where({ account_id: accountId }).delete();
    },

    // ---- WebAuthn challenges

    /** Stores a challenge; earlier unspent ones for the same binding and purpose stop working. */
    async replaceChallenge(row: Omit<ChallengeRow, 'created_at'>, db: Knex = knex) {
      await db('webauthn_challenges').where({ binding: row.binding, purpose: row.purpose }).delete();
      await db('webauthn_challenges').insert(row);
    },

    /** Spends a live challenge (DELETE … RETURNING): a challenge can be answered only once. */
    async consumeChallenge(binding: string, purpose: ChallengePurpose, challenge: string, db: Knex = knex): Promise<ChallengeRow | undefined> {
      const rows = await db<ChallengeRow>('webauthn_challenges')
        .where({ binding, purpose, challenge })
        .andWhere('expires_at', '>', new Date())
        .delete()
        .returning('*');
      return rows[0];
    },

    // ---- sign-ins waiting for a second factor

    async upsertPendingSignIn(row: Pick<PendingSignInRow, 'interaction_uid' | 'account_id' | 'amr' | 'expires_at'>, db: Knex = knex) {
      await db('mfa_pending_sign_ins')
        .insert({ ...row, enrolled_method: null })
        .onConflict('interaction_uid')
        .merge(['account_id', 'amr', 'expires_at', 'enrolled_method']);
    },

    async findPendingSignIn(interactionUid: string, db: Knex = knex): Promise<PendingSignInRow | undefined> {
      return db<PendingSignInRow>('mfa_pending_sign_ins').where({ interaction_uid: interactionUid }).andWhere('expires_at', '>', new Date()).first();
    },

    async markEnrolled(interactionUid: string, accountId: string, method: string, db: Knex = knex) {
      return db('mfa_pending_sign_ins').where({ interaction_uid: interactionUid, account_id: accountId }).update({ enrolled_method: method });
    },

    /** Ends a pending sign-in; only the one caller that deletes the live row gets it back. */
    async takePendingSignIn(interactionUid: string, db: Knex = knex): Promise<PendingSignInRow | undefined> {
      const rows = await db<PendingSignInRow>('mfa_pending_sign_ins')
        .where({ interaction_uid: interactionUid })
        .andWhere('expires_at', '>', new Date())
        .delete()
        .returning('*');
      return rows[0];
    },

    // ---- housekeeping

    /** For the prune job: one batch of expired WebAuthn challenges. */
    async deleteExpiredChallengesBatch(limit: number) {
      const now = new Date();
      return deleteBatch(knex, 'webauthn_challenges', (q) => q.where('expires_at', '<', now), limit);
    },

    /** For the prune job: one batch of sign-ins whose second factor never came. */
    async deleteExpiredPendingSignInsBatch(limit: number) {
      const now = new Date();
      return deleteBatch(knex, 'mfa_pending_sign_ins', (q) => q.where('expires_at', '<', now), limit);
    },
  };
}
