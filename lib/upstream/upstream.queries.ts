import type { Knex } from 'knex';
import { deleteBatch } from '../db/delete-batch.js';

export type UpstreamProviderRow = { id: string; name: string; issuer: string; client_id: string; client_secret_sealed: string; scope: string; created_at: Date };
export type UpstreamIdentityRow = { provider_id: string; subject: string; account_id: string; email: string | null; created_at: Date; last_used_at: Date | null };
export type UpstreamProfile = { subject: string; email: string | null; emailVerified: boolean; name: string | null };
export type UpstreamSignInRow = {
  id: string;
  state_hash: string;
  browser_hash: string;
  provider_id: string;
  purpose: 'sign-in' | 'link';
  interaction_uid: string | null;
  account_id: string | null;
  code_verifier: string;
  nonce: string | null;
  profile: UpstreamProfile | null;
  expires_at: Date;
};

export type UpstreamQueries = ReturnType<typeof createUpstreamQueries>;

export function createUpstreamQueries(knex: Knex) {
  return {
    listProviders: (db: Knex = knex): Promise<UpstreamProviderRow[]> => db<UpstreamProviderRow>('upstream_providers').orderBy('id'),
    findProvider: (id: string, db: Knex = knex): Promise<UpstreamProviderRow | undefined> => db<UpstreamProviderRow>('upstream_providers').where({ id }).first(),
    async insertProvider(row: Omit<UpstreamProviderRow, 'created_at'>, db: Knex = knex) {
      await db('upstream_providers').insert(row);
    },
    /** Removes the provider and every identity linked through it, at once. */
    async deleteProvider(id: string, db: Knex = knex): Promise<boolean> {
      return db.transaction(async (trx) => {
        await trx('upstream_identities').where({ provider_id: id }).delete();
        await trx('upstream_sign_ins').where({ provider_id: id }).delete();
        return (await trx('upstream_providers').where({ id }).delete()) > 0;
      });
    },

    findIdentity: (providerId: string, subject: string, db: Knex = knex): Promise<UpstreamIdentityRow | undefined> =>
      db<UpstreamIdentityRow>('upstream_identities').where({ provider_id: providerId, subject }).first(),
    identitiesOf: (accountId: string, db: Knex = knex): Promise<UpstreamIdentityRow[]> =>
      db<UpstreamIdentityRow>('upstream_identities').where({ account_id: accountId }).orderBy('provider_id'),
    async insertIdentity(row: Pick<UpstreamIdentityRow, 'provider_id' | 'subject' | 'account_id' | 'email'>, db: Knex = knex) {
      await db('upstream_identities').insert({ ...row, last_used_at: new Date() });
    },
    async touchIdentity(providerId: string, subject: string, email: string | null, db: Knex = knex) {
      await db('upstream_identities').where({ provider_id: providerId, subject }).update({ last_used_at: new Date(), email });
    },
    async deleteIdentity(accountId: string, providerId: string, db: Knex = knex): Promise<boolean> {
      return (await db('upstream_identities').where({ account_id: accountId, provider_id: providerId }).delete()) > 0;
    },

    async insertSignIn(row: Omit<UpstreamSignInRow, 'profile'>, db: Knex = knex) {
      await db('upstream_sign_ins').insert(row);
    },
    /**
     * Spends the PKCE verifier of a live sign-in exactly once (a replayed callback finds
     * nothing): returns the row, verifier included, only to the one caller that spent it.
     */
    async claimSignIn(stateHash: string, providerId: string, db: Knex = knex): Promise<UpstreamSignInRow | undefined> {
      const live = await db<UpstreamSignInRow>('upstream_sign_ins').where({ state_hash: stateHash, provider_id: providerId }).andWhere('expires_at', '>', new Date()).whereNot({ code_verifier: '' }).first();
      if (!live) return undefined;
      const updated = await db('upstream_sign_ins').where({ id: live.id }).whereNot({ code_verifier: '' }).update({ code_verifier: '' });
      return updated === 1 ? live : undefined;
    },
    async saveProfile(id: string, profile: UpstreamProfile, db: Knex = knex) {
      await db('upstream_sign_ins').where({ id }).update({ profile: JSON.stringify(profile) });
    },
    /** Takes (deletes) the finished upstream sign-in of an interaction, once. */
    async takeFinished(interactionUid: string, browserHash: string, db: Knex = knex): Promise<UpstreamSignInRow | undefined> {
      const rows = await db<UpstreamSignInRow>('upstream_sign_ins')
        .where({ interaction_uid: interactionUid, browser_hash: browserHash, purpose: 'sign-in' })
        .whereNotNull('profile')
        .andWhere('expires_at', '>', new Date())
        .delete()
        .returning('*');
      return rows[0];
    },
    async deleteSignIn(id: string, db: Knex = knex) {
      await db('upstream_sign_ins').where({ id }).delete();
    },
    /** For the prune job: one batch of upstream sign-ins that were never finished. */
    deleteExpiredSignInsBatch: (limit: number) => {
      const now = new Date();
      return deleteBatch(knex, 'upstream_sign_ins', (q) => q.where('expires_at', '<', now), limit);
    },
  };
}
