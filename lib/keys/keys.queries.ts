import type { Knex } from 'knex';

export type KeyRow = {
  kid: string;
  use: 'signing' | 'cookie';
  alg: string;
  public_jwk: Record<string, unknown> | null;
  sealed_private: string;
  status: 'next' | 'current' | 'retired';
  created_at: Date;
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
        .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date()))
        .orderByRaw("CASE status WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END")
        .orderBy('created_at', 'desc');
    },

    async listAll(db: Knex = knex): Promise<KeyRow[]> {
      return db<KeyRow>('keys').orderBy('created_at', 'desc');
    },

    async insert(row: Omit<KeyRow, 'created_at' | 'retired_at' | 'expires_at'> & { expires_at?: Date | null }, db: Knex = knex) {
      await db('keys').insert({ ...row, public_jwk: row.public_jwk ? JSON.stringify(row.public_jwk) : null });
    },

    /** Serialises key creation between instances that start together. */
    async lockForKeyCreation(trx: Knex.Transaction) {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [0x4c6b6579]);
    },
  };
}
