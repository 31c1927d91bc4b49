import type { Adapter, AdapterPayload } from 'oidc-provider';
import pg from 'pg';
import type { WriteRecorder } from './ceiling-config.js';

/**
 * The stored ceiling's storage: oidc-provider's adapter interface on PostgreSQL, written the
 * way its documentation's example adapters are, one statement per adapter call, through pg
 * alone (no query builder), each statement prepared once per connection. No batching, no
 * look-ahead, nothing Latch does to save a round trip: what any oidc-provider deployment on
 * PostgreSQL pays for keeping its tokens there. Beside the in-memory ceiling it measures what
 * storage costs stock oidc-provider on the same cores; beside Latch, what Latch costs beyond
 * that.
 */
export const CEILING_TABLE = 'ceiling_payloads';

const SCHEMA = `
create table if not exists ${CEILING_TABLE} (
  id text not null,
  model text not null,
  payload jsonb not null,
  grant_id text,
  user_code text,
  uid text,
  expires_at timestamptz,
  consumed_at timestamptz,
  primary key (id, model)
);
create index if not exists ${CEILING_TABLE}_grant_id on ${CEILING_TABLE} (grant_id);
create index if not exists ${CEILING_TABLE}_user_code on ${CEILING_TABLE} (user_code) where user_code is not null;
create index if not exists ${CEILING_TABLE}_uid on ${CEILING_TABLE} (uid) where uid is not null;
create index if not exists ${CEILING_TABLE}_expires_at on ${CEILING_TABLE} (expires_at);`;

const LIVE = '(expires_at is null or expires_at > now())';
const STATEMENTS = {
  upsert: `insert into ${CEILING_TABLE} (id, model, payload, grant_id, user_code, uid, expires_at) values ($1, $2, $3, $4, $5, $6, $7)
    on conflict (id, model) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
  find: `select payload, consumed_at from ${CEILING_TABLE} where id = $1 and model = $2 and ${LIVE}`,
  findByUid: `select payload, consumed_at from ${CEILING_TABLE} where uid = $1 and model = $2 and ${LIVE}`,
  findByUserCode: `select payload, consumed_at from ${CEILING_TABLE} where user_code = $1 and model = $2 and ${LIVE}`,
  consume: `update ${CEILING_TABLE} set consumed_at = now() where id = $1 and model = $2`,
  destroy: `delete from ${CEILING_TABLE} where id = $1 and model = $2`,
  revokeByGrantId: `delete from ${CEILING_TABLE} where grant_id = $1`,
} as const;

type Row = { payload: AdapterPayload; consumed_at: Date | null };

export type CeilingStorage = { adapter: (model: string) => Adapter; close(): Promise<void> };

export async function createPostgresStorage(databaseUrl: string, poolMax: number, recorder: WriteRecorder): Promise<CeilingStorage> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax, application_name: 'ceiling' });
  await pool.query(SCHEMA);
  const run = (name: keyof typeof STATEMENTS, values: unknown[]) => pool.query<Row>({ name: `ceiling_${name}`, text: STATEMENTS[name], values });
  const first = (rows: Row[]): AdapterPayload | undefined => {
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
  };
  const count = (op: string, model: string) => {
    if (recorder.active) recorder.record(`${op} ${model}`);
  };
  const adapter = (model: string): Adapter => ({
    async upsert(id, payload, expiresIn) {
      count('upsert', model);
      const grantId = payload.grantId ?? (model === 'Grant' ? id : null);
      await run('upsert', [id, model, payload, grantId, payload.userCode ?? null, payload.uid ?? null, expiresIn ? new Date(Date.now() + expiresIn * 1000) : null]);
    },
    find: async (id) => first((await run('find', [id, model])).rows),
    findByUid: async (uid) => first((await run('findByUid', [uid, model])).rows),
    findByUserCode: async (userCode) => first((await run('findByUserCode', [userCode, model])).rows),
    async consume(id) {
      count('consume', model);
      await run('consume', [id, model]);
    },
    async destroy(id) {
      count('destroy', model);
      await run('destroy', [id, model]);
    },
    async revokeByGrantId(grantId) {
      count('revokeByGrantId', model);
      await run('revokeByGrantId', [grantId]);
    },
  });
  return { adapter, close: () => pool.end() };
}

/**
 * Live tokens as Latch's seed has them (half client-credentials tokens, a quarter each access
 * and refresh tokens), so the stored ceiling's table and key are as large as Latch's.
 */
export async function seedCeilingTokens(databaseUrl: string, count: number, ttlS: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(SCHEMA);
    await client.query(
      `insert into ${CEILING_TABLE} (id, model, payload, expires_at)
       select id, model, jsonb_build_object('jti', id, 'kind', model, 'clientId', 'seed-client', 'scope', 'read', 'iat', extract(epoch from now())::int), now() + make_interval(secs => $2)
       from (select md5(random()::text || n) as id, case when n % 4 < 2 then 'ClientCredentials' when n % 4 = 2 then 'AccessToken' else 'RefreshToken' end as model
             from generate_series(1, $1::int) as n) as seed`,
      [count, ttlS],
    );
    // as Latch's seed settles (seed/settle.ts): no autovacuum or seed WAL flush in a window
    await client.query(`vacuum analyze ${CEILING_TABLE}`);
    await client.query('checkpoint').catch(() => undefined);
  } finally {
    await client.end();
  }
}
