import type { Knex } from 'knex';
import { deleteBatch } from '../db/delete-batch.js';
import { perTurnBatch } from '../db/per-turn-batch.js';
import { listOf, marks, textPerShape } from '../db/statement-text.js';
import { createTextRunner } from '../db/text-runner.js';
import { createWriteCoalescer } from '../db/write-coalescer.js';

export type PayloadRow = {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grant_id: string | null;
  client_id: string | null;
  account_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
};

export type OidcPayloadQueries = ReturnType<typeof createOidcPayloadQueries>;

const notExpired = (q: Knex.QueryBuilder) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date());

type LiveRow = Pick<PayloadRow, 'payload' | 'consumed_at'>;
/**
 * A row found by (model, id). For a row that belongs to a grant (a code, a refresh or access
 * token…), `grant` is that grant's live row as the same statement read it (undefined where the
 * grant is gone or expired): oidc-provider reads a token's grant right after the token.
 */
export type FoundRow = LiveRow & { grant?: { id: string; row: LiveRow | undefined } };
type RowKey = { model: string; id: string };
/** One string per (model, id), for maps of rows. */
export const payloadKey = (model: string, id: string) => `${model}\u0000${id}`;

/**
 * The rows of a batch of look-ups by (model, id) that have not expired, each with its grant's
 * row where it has a live one. The grant is a subquery per row, so PostgreSQL always looks it
 * up by the whole primary key: as a join, a plan made while the table held hardly any grants
 * (a fresh database, statistics not yet updated) scanned every grant for each row, and kept
 * doing so as they grew — the plan of a prepared statement is made once. Written out rather
 * than built: Knex's query builder took about 15 µs to assemble the statement on every
 * look-up, the written one 3 µs to bind.
 */
const grantColumn = (column: string) =>
  `(select "g"."${column}" from "oidc_payloads" as "g" where "g"."model" = 'Grant' and "g"."id" = "t"."grant_id" and ("g"."expires_at" is null or "g"."expires_at" > ?))`;
const byKeyWithGrant = textPerShape(
  (models: number, ids: number) => `select "t"."model", "t"."id", "t"."payload", "t"."consumed_at", "t"."grant_id",
  ${grantColumn('payload')} as "grant_payload", ${grantColumn('consumed_at')} as "grant_consumed_at"
  from "oidc_payloads" as "t"
  where "t"."model" in (${marks(models)}) and "t"."id" in (${marks(ids)}) and ("t"."expires_at" is null or "t"."expires_at" > ?)`,
);
/**
 * The writes, written out for the same reason as the look-up: Knex's builder took 5–10 µs to
 * assemble an upsert of a batch's rows (the DELETE beside it, a consume) on every write.
 * Column order is Knex's, so the text a write sends is the one it sent before.
 */
const WRITTEN_COLUMNS = ['account_id', 'client_id', 'expires_at', 'grant_id', 'id', 'model', 'payload', 'uid', 'user_code'] as const;
const MERGED_COLUMNS = ['payload', 'grant_id', 'client_id', 'account_id', 'user_code', 'uid', 'expires_at'] as const;
const keyList = (n: number) => listOf(n, '(?, ?)');
const deleteByKeys = (deletes: number) => `delete from "oidc_payloads" where ("model", "id") in (${keyList(deletes)})`;
const writesText = textPerShape((rows: number, deletes: number) => {
  if (!rows) return deleteByKeys(deletes);
  const values = listOf(rows, `(${marks(WRITTEN_COLUMNS.length)})`);
  const insert = `insert into "oidc_payloads" (${WRITTEN_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${values} on conflict ("model", "id") do update set ${MERGED_COLUMNS.map((c) => `"${c}" = excluded."${c}"`).join(', ')}`;
  return deletes ? `with "deleted" as (${deleteByKeys(deletes)}) ${insert}` : insert;
});
const consumeText = textPerShape((keys: number) => `update "oidc_payloads" set "consumed_at" = ? where ("model", "id") in (${keyList(keys)}) and "consumed_at" is null returning "model", "id"`);
/**
 * A row to write. Its payload comes as the JSON text to store, serialized once by the caller
 * (which also checks that text), not again here when the batch goes out.
 */
export type WrittenRow = Omit<PayloadRow, 'consumed_at' | 'payload'> & { payload_json: string };
/** a row's values in WRITTEN_COLUMNS' order */
const writtenValues = (row: WrittenRow) => [row.account_id, row.client_id, row.expires_at, row.grant_id, row.id, row.model, row.payload_json, row.uid, row.user_code];

type JoinedRow = LiveRow & RowKey & { grant_id: string | null; grant_payload: LiveRow['payload'] | null; grant_consumed_at: Date | null };

export function createOidcPayloadQueries(knex: Knex) {
  const table = () => knex<PayloadRow>('oidc_payloads');
  const live = ['payload', 'consumed_at'];
  // the written-out statements below, on the hot paths, run without knex.raw's wrapping
  const run = createTextRunner(knex);

  /**
   * Look-ups by (model, id), batched per turn: oidc-provider looks a token up as an access
   * token, client-credentials token and refresh token at once when introspecting or revoking
   * without a hint, and concurrent requests' look-ups join too. Each row comes with its
   * grant's, read by primary key in the same statement.
   */
  const byKey = perTurnBatch<RowKey, FoundRow | undefined>(async (keys) => {
    const now = new Date();
    const models = [...new Set(keys.map((k) => k.model))];
    const ids = [...new Set(keys.map((k) => k.id))];
    const rows = await run<JoinedRow>(byKeyWithGrant(models.length, ids.length), [now, now, ...models, ...ids, now]);
    const found = new Map(
      rows.map((row): [string, FoundRow] => {
        const own: FoundRow = { payload: row.payload, consumed_at: row.consumed_at };
        if (row.grant_id && row.model !== 'Grant') {
          own.grant = { id: row.grant_id, row: row.grant_payload ? { payload: row.grant_payload, consumed_at: row.grant_consumed_at } : undefined };
        }
        return [payloadKey(row.model, row.id), own];
      }),
    );
    return keys.map((k) => found.get(payloadKey(k.model, k.id)));
  });

  /**
   * Consumes, batched per turn (concurrent requests redeeming different codes or refresh
   * tokens): one UPDATE … WHERE consumed_at IS NULL RETURNING, and a row comes back only if
   * this statement consumed it. Two callers consuming the same row in one batch (a replay
   * racing the first use) get true for the first only.
   */
  const consume = perTurnBatch<RowKey, boolean>(async (keys) => {
    const distinct = [...new Map(keys.map((k) => [payloadKey(k.model, k.id), k])).values()];
    const rows = await run<RowKey>(consumeText(distinct.length), [new Date(), ...distinct.flatMap((k) => [k.model, k.id])]);
    const won = new Set(rows.map((row) => payloadKey(row.model, row.id)));
    return keys.map((k) => won.delete(payloadKey(k.model, k.id)));
  });

  type Writes = { rows: WrittenRow[]; deletes: RowKey[]; keys: string[] };
  /** Upserts and deletes of distinct rows as one statement (a DELETE in a WITH clause beside the INSERT), so one commit. */
  const sendWrites = async ({ rows, deletes }: Writes) => {
    // the query context names the rows, for the bench's write count
    const context = { rows: [...rows.map((r) => `upsert ${r.model}`), ...deletes.map((d) => `delete ${d.model}`)] };
    const bindings = [...deletes.flatMap((d) => [d.model, d.id]), ...rows.flatMap(writtenValues)];
    await run(writesText(rows.length, deletes.length), bindings, context);
  };
  /** concurrent requests' writes share statements (group commit, write-coalescer.ts) */
  const coalescer = createWriteCoalescer<Writes>({
    send: sendWrites,
    merge: (writes) => ({ rows: writes.flatMap((w) => w.rows), deletes: writes.flatMap((w) => w.deletes), keys: writes.flatMap((w) => w.keys) }),
  });

  return {
    async upsert(row: WrittenRow) {
      await run(writesText(1, 0), writtenValues(row));
    },

    /**
     * Upserts and deletes of distinct rows, committed together: one statement, which the
     * writes of other requests made in the same turn of the event loop may join.
     */
    async writeMany(rows: WrittenRow[], deletes: RowKey[]) {
      if (!rows.length && !deletes.length) return;
      const keys = [...rows, ...deletes].map((r) => payloadKey(r.model, r.id));
      await coalescer.write({ rows, deletes, keys });
    },

    async find(model: string, id: string): Promise<FoundRow | undefined> {
      return byKey({ model, id });
    },

    async findByUid(model: string, uid: string) {
      return table().select<Pick<PayloadRow, 'payload' | 'consumed_at'>>(live).where({ model, uid }).andWhere(notExpired).first();
    },

    async findByUserCode(model: string, userCode: string) {
      return table().select<Pick<PayloadRow, 'payload' | 'consumed_at'>>(live).where({ model, user_code: userCode }).andWhere(notExpired).first();
    },

    /** Marks a row consumed; true only for the one caller that did it (UPDATE … WHERE consumed_at IS NULL). */
    async consume(model: string, id: string): Promise<boolean> {
      return consume({ model, id });
    },

    async grantIdOf(model: string, id: string): Promise<string | null> {
      const row = await table().select('grant_id').where({ model, id }).first();
      return row?.grant_id ?? null;
    },

    async listLive(model: string) {
      return table().select('id', 'payload', 'expires_at').where({ model }).andWhere(notExpired).orderBy('expires_at');
    },

    async destroy(model: string, id: string) {
      await table().where({ model, id }).delete();
    },

    /** Removes every model that belongs to a grant, the Grant itself included. */
    async revokeByGrantId(grantId: string) {
      await table().where({ grant_id: grantId }).delete();
    },

    /** Ends everything an account holds: sessions, grants, codes and tokens of every client. */
    async deleteAllForAccount(accountId: string, db: Knex = knex) {
      return db('oidc_payloads').where({ account_id: accountId }).delete();
    },

    async deleteForAccountAndClient(accountId: string, clientId: string, db: Knex = knex) {
      return db('oidc_payloads').where({ account_id: accountId, client_id: clientId }).delete();
    },

    async sessionsOf(accountId: string) {
      return table().select('id', 'payload', 'expires_at').where({ model: 'Session', account_id: accountId }).andWhere(notExpired);
    },

    async deleteSession(accountId: string, uid: string) {
      return table().where({ model: 'Session', account_id: accountId, uid }).delete();
    },

    /** Deletes up to `batchSize` expired rows; returns how many went. Short statements, no table lock. */
    async deleteExpiredBatch(batchSize: number): Promise<number> {
      return deleteBatch(knex, 'oidc_payloads', (q) => q.where('expires_at', '<', new Date()), batchSize);
    },
  };
}
