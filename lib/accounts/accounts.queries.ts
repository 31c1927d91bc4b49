import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/change-feed.js';
import { deleteBatch } from '../db/delete-batch.js';
import { perTurnBatch } from '../db/per-turn-batch.js';
import { createReadCache } from '../db/read-cache.js';

export type AccountRow = {
  id: string;
  email: string;
  email_normalized: string;
  name: string | null;
  password_hash: string | null;
  email_verified: boolean;
  disabled: boolean;
  is_admin: boolean;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
  password_changed_at: Date | null;
};

export type EmailTokenRow = {
  id: string;
  account_id: string;
  purpose: 'verify-email' | 'reset-password';
  token_hash: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: Date;
};

/**
 * What a token, the userinfo endpoint or an API call needs of an account: its claims and whether
 * it may act. These columns are kept in memory (`findClaims`): a write to any of them must
 * announce the account on the change feed.
 */
export type AccountClaimsRow = Pick<AccountRow, 'id' | 'email' | 'name' | 'email_verified' | 'disabled'>;

export type AccountQueries = ReturnType<typeof createAccountQueries>;

/**
 * An account's claims are read on every token issued to a person (oidc-provider's findAccount),
 * on userinfo and on every API call with a bearer token or a session, so they are kept in a read
 * cache on the change feed, like clients and API keys: every write to one of those columns, and
 * deleting the account, announces it (topic `accounts`, through `transaction` or the feed), and
 * every instance forgets it when that commits. Nothing else is kept: a password, the last
 * sign-in or the active organization is always read from the database.
 */
export function createAccountQueries(knex: Knex, changes: ChangeFeed) {
  /** Look-ups by id outside a transaction (concurrent token requests each loading their account), batched per turn. */
  const byId = perTurnBatch<string, AccountRow | undefined>(async (ids) => {
    const rows = await knex<AccountRow>('accounts').whereIn('id', [...new Set(ids)]);
    const found = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => found.get(id));
  });
  const claims = createReadCache<AccountClaimsRow>(changes, 'accounts');

  return {
    async findById(id: string, db: Knex = knex): Promise<AccountRow | undefined> {
      return db === knex ? byId(id) : db<AccountRow>('accounts').where({ id }).first();
    },

    /** The account's claims and `disabled` (frozen: shared by every caller), from memory when this instance has read them since they last changed. */
    async findClaims(id: string): Promise<Readonly<AccountClaimsRow> | undefined> {
      return claims.get(id, async () => {
        const row = await byId(id);
        return row && { id: row.id, email: row.email, name: row.name, email_verified: row.email_verified, disabled: row.disabled };
      });
    },

    /** A transaction whose `changed(accountId)` announces that account's change when it commits. */
    async transaction<T>(work: (trx: Knex.Transaction, changed: (accountId: string) => Promise<void>) => Promise<T>): Promise<T> {
      return changes.transaction((trx, announce) => work(trx, (accountId) => announce('accounts', [accountId])));
    },

    async findByEmail(emailNormalized: string, db: Knex = knex): Promise<AccountRow | undefined> {
      return db<AccountRow>('accounts').where({ email_normalized: emailNormalized }).first();
    },

    /** For admins: accounts oldest first, optionally those whose e-mail or name contains `search`. */
    async list(opts: { search?: string; limit: number }): Promise<AccountRow[]> {
      const q = knex<AccountRow>('accounts').orderBy('created_at', 'asc').limit(opts.limit);
      if (opts.search) {
        const like = `%${opts.search.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
        q.where((w) => w.where('email_normalized', 'like', like).orWhereRaw('lower(name) like ?', [like]));
      }
      return q;
    },

    /** Administrators whose accounts are enabled, locked for the transaction when given one. */
    async enabledAdmins(db: Knex = knex): Promise<string[]> {
      const q = db('accounts').where({ is_admin: true, disabled: false }).select('id');
      if (db !== knex) q.forUpdate();
      return (await q).map((r: { id: string }) => r.id);
    },

    async anyExists(db: Knex = knex): Promise<boolean> {
      return !!(await db('accounts').first('id'));
    },

    /** Serialises account creation so only the very first account becomes the administrator. */
    async lockForSignUp(trx: Knex.Transaction) {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [0x4c616363]);
    },

    async insert(row: Pick<AccountRow, 'id' | 'email' | 'email_normalized' | 'name' | 'password_hash' | 'is_admin'> & { email_verified?: boolean }, db: Knex = knex) {
      await db('accounts').insert(row);
    },

    async update(id: string, changes: Partial<Omit<AccountRow, 'id' | 'created_at'>>, db: Knex = knex) {
      return db('accounts').where({ id }).update({ ...changes, updated_at: new Date() });
    },

    async insertEmailToken(row: Omit<EmailTokenRow, 'used_at' | 'created_at'>, db: Knex = knex) {
      await db('email_tokens').insert(row);
    },

    /** Newer tokens supersede older ones: the account's unused tokens of that purpose are spent. */
    async expireEmailTokens(accountId: string, purpose: EmailTokenRow['purpose'], db: Knex = knex) {
      await db('email_tokens').where({ account_id: accountId, purpose }).whereNull('used_at').update({ used_at: new Date() });
    },

    /** Atomically spends a live token; returns its row only to the one caller that spent it. */
    async consumeEmailToken(tokenHash: string, purpose: EmailTokenRow['purpose'], db: Knex = knex): Promise<EmailTokenRow | undefined> {
      const rows = await db<EmailTokenRow>('email_tokens')
        .update({ used_at: new Date() })
        .where({ token_hash: tokenHash, purpose })
        .whereNull('used_at')
        .andWhere('expires_at', '>', new Date())
        .returning('*');
      return rows[0];
    },

    async findLiveEmailToken(tokenHash: string, purpose: EmailTokenRow['purpose'], db: Knex = knex): Promise<EmailTokenRow | undefined> {
      return db<EmailTokenRow>('email_tokens').where({ token_hash: tokenHash, purpose }).whereNull('used_at').andWhere('expires_at', '>', new Date()).first();
    },

    /** For the prune job: one batch of tokens expired more than a day ago. */
    async deleteExpiredEmailTokensBatch(limit: number) {
      const before = new Date(Date.now() - 86400_000);
      return deleteBatch(knex, 'email_tokens', (q) => q.where('expires_at', '<', before), limit);
    },
  };
}
