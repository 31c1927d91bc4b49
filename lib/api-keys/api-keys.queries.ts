import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/change-feed.js';
import { deleteBatch } from '../db/delete-batch.js';
import { createReadCache } from '../db/read-cache.js';

export type ApiKeyRow = {
  id: string;
  public_id: string;
  account_id: string | null;
  org_id: string | null;
  created_by: string | null;
  name: string;
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_expires_at: Date | null;
  scopes: string[];
  resource: string | null;
  labels: Record<string, string>;
  expires_at: Date;
  created_at: Date;
  last_used_at: Date | null;
  rotated_at: Date | null;
  revoked_at: Date | null;
};

export type ApiKeyOwner = { accountId: string } | { orgId: string };

/** The row as the check of a presented key needs it: with whether its owning account is disabled. */
export type ApiKeyLookupRow = ApiKeyRow & { owner_disabled: boolean | null };

const HMAC_KEY_USE = 'api-key-hmac';

export type ApiKeyQueries = ReturnType<typeof createApiKeyQueries>;

function ownerWhere(owner: ApiKeyOwner) {
  return 'accountId' in owner ? { account_id: owner.accountId } : { org_id: owner.orgId };
}

/**
 * The check of a presented key reads its row from memory when this instance has read it
 * since it last changed. Every change that can make a key fail — revocation, rotation, its
 * owning account disabled, enabled or deleted, its organization deleted — is announced on the
 * change feed (topics api_keys, accounts, organizations), so the cache of every instance
 * forgets it when the change commits; while the feed is down the check reads through.
 * `last_used_at` is not read from here (the use marks are kept in memory: lib/db/use-marks.ts).
 */
export function createApiKeyQueries(knex: Knex, changes: ChangeFeed) {
  const table = (db: Knex = knex) => db<ApiKeyRow>('api_keys');
  const lookups = createReadCache<ApiKeyLookupRow>(changes, 'api_keys');
  changes.subscribe('accounts', (accountId) => lookups.forgetWhere((row) => accountId === undefined || row.account_id === accountId));
  changes.subscribe('organizations', (orgId) => lookups.forgetWhere((row) => orgId === undefined || row.org_id === orgId));

  return {
    async insert(row: Omit<ApiKeyRow, 'created_at' | 'last_used_at' | 'rotated_at' | 'revoked_at' | 'previous_secret_hash' | 'previous_expires_at'>) {
      await table().insert({ ...row, labels: JSON.stringify(row.labels) as never });
    },

    /** The row a presented key names, with its owner's `disabled` (frozen: shared by every caller). */
    async findByPublicId(publicId: string): Promise<Readonly<ApiKeyLookupRow> | undefined> {
      return lookups.get(publicId, () =>
        knex('api_keys as k')
          .leftJoin('accounts as a', 'a.id', 'k.account_id')
          .where('k.public_id', publicId)
          .first<ApiKeyLookupRow | undefined>('k.*', 'a.disabled as owner_disabled'),
      );
    },

    /** A transaction whose `changed(publicId)` announces that key's change when it commits. */
    async transaction<T>(work: (trx: Knex.Transaction, changed: (publicId: string) => Promise<void>) => Promise<T>): Promise<T> {
      return changes.transaction((trx, announce) => work(trx, (publicId) => announce('api_keys', [publicId])));
    },

    /** A key of this owner, or nothing: another owner's key is never found. */
    async findForOwner(owner: ApiKeyOwner, id: string, db: Knex = knex): Promise<ApiKeyRow | undefined> {
      return table(db).where({ id, ...ownerWhere(owner) }).first();
    },

    async findById(id: string, db: Knex = knex): Promise<ApiKeyRow | undefined> {
      return table(db).where({ id }).first();
    },

    /** The row, locked until the transaction ends (a rotation reads and replaces the hash). */
    async findByIdForUpdate(id: string, trx: Knex.Transaction): Promise<ApiKeyRow | undefined> {
      return table(trx).where({ id }).forUpdate().first();
    },

    async listForOwner(owner: ApiKeyOwner): Promise<ApiKeyRow[]> {
      return table().where(ownerWhere(owner)).orderBy('created_at', 'desc');
    },

    async listAll(): Promise<ApiKeyRow[]> {
      return table().orderBy('created_at', 'desc');
    },

    async organizationExists(orgId: string): Promise<boolean> {
      return !!(await knex('organizations').where({ id: orgId }).first('id'));
    },

    async revoke(key: Pick<ApiKeyRow, 'id' | 'public_id'>): Promise<boolean> {
      return changes.write(
        'api_keys',
        (revoked) => (revoked ? [key.public_id] : []),
        async (trx) => (await table(trx).where({ id: key.id }).whereNull('revoked_at').update({ revoked_at: new Date() })) === 1,
      );
    },

    /** Inside `transaction`, which announces the change. */
    async rotate(id: string, update: Pick<ApiKeyRow, 'secret_hash' | 'previous_secret_hash' | 'previous_expires_at' | 'rotated_at'>, trx: Knex.Transaction) {
      return (await table(trx).where({ id }).whereNull('revoked_at').update(update)) === 1;
    },

    /** Sets last_used_at of these keys, each unless another request (on any instance) did since `notSince`. */
    async touchLastUsed(ids: readonly string[], now: Date, notSince: Date) {
      await table()
        .whereIn('id', ids)
        .where((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', notSince))
        .update({ last_used_at: now });
    },

    /** Deletes one batch of keys revoked or expired before `before`. */
    async deleteStaleBatch(before: Date, limit: number) {
      return deleteBatch(knex, 'api_keys', (q) => q.where((w) => w.where('revoked_at', '<', before).orWhere('expires_at', '<', before)), limit);
    },

    // The server's HMAC key lives with the other key material in `keys`, sealed like them.
    async findHmacKey(db: Knex = knex): Promise<{ kid: string; sealed_private: string } | undefined> {
      return db('keys').where({ use: HMAC_KEY_USE, status: 'current' }).orderBy('created_at').first('kid', 'sealed_private');
    },

    async insertHmacKey(row: { kid: string; sealed_private: string }, db: Knex = knex) {
      await db('keys').insert({ ...row, use: HMAC_KEY_USE, alg: 'HS256', public_jwk: null, status: 'current', activated_at: new Date() });
    },

    /** Serialises creation of the HMAC key between instances that start together. */
    async lockHmacKeyCreation(trx: Knex.Transaction) {
      await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [HMAC_KEY_USE]);
    },
  };
}
