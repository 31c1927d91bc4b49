import type { Knex } from 'knex';

/** 'next': published, not yet signing · 'current': signing · 'retiring': published until expires_at · 'retired': gone */
export type KeyStatus = 'next' | 'current' | 'retiring' | 'retired';

export type KeyRow = {
  kid: string;
  /** 'signing' and 'cookie' keys rotate; other uses (the API-key HMAC key) belong to their feature */
  use: 'signing' | 'cookie' | (string & {});
  alg: string;
  public_jwk: Record<string, unknown> | null;
  sealed_private: string;
  status: KeyStatus;
  created_at: Date;
  activates_at: Date | null;
  activated_at: Date | null;
  retired_at: Date | null;
  expires_at: Date | null;
};

export type KeyQueries = ReturnType<typeof createKeyQueries>;

export function createKeyQueries(knex: Knex) {
  return {
    /** Every key still published or usable, current ones first, newest first within a status. */
    async listLive(db: Knex = knex): Promise<KeyRow[]> {
      return db<KeyRow>('keys')
        .whereIn('status', ['next', 'current', 'retiring'])
        .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date()))
        .orderByRaw("CASE status WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END")
        .orderBy('created_at', 'desc');
    },

    async listAll(db: Knex = knex): Promise<KeyRow[]> {
      return db<KeyRow>('keys').orderBy('created_at', 'desc');
    },

    async find(kid: string, db: Knex = knex): Promise<KeyRow | undefined> {
      return db<KeyRow>('keys').where({ kid }).first();
    },

    async insert(row: Omit<KeyRow, 'created_at' | 'retired_at' | 'expires_at' | 'activates_at'> & { expires_at?: Date | null; activates_at?: Date | null }, db: Knex = knex) {
      await db('keys').insert({ ...row, public_jwk: row.public_jwk ? JSON.stringify(row.public_jwk) : null });
    },

    async update(kid: string, changes: Partial<Pick<KeyRow, 'status' | 'activated_at' | 'retired_at' | 'expires_at' | 'activates_at'>>, db: Knex = knex) {
      await db('keys').where({ kid }).update(changes);
    },

    /** Serialises key creation and state changes between instances (and the CLI). */
    async lockForKeyCreation(trx: Knex.Transaction) {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [0x4c6b6579]);
    },
  };
}
