import type { Knex } from 'knex';

/**
 * Rows of oidc_payloads in the shape Latch's adapter writes them (model, id, jsonb payload,
 * grant/client/account columns, expires_at), generated inside PostgreSQL in batches so a
 * million rows take seconds. Ids are 43 base64url characters like oidc-provider's.
 */
export type PayloadRowsSpec = {
  count: number;
  clientIds: string[];
  accountIds: string[];
  /** live rows expire 1–24 h from now; expired ones expired 1 min – 7 days ago */
  expired: boolean;
  batchSize?: number;
  /** distinguishes generated ids between calls */
  salt: string;
};

const TOKEN_MODELS = ['ClientCredentials', 'ClientCredentials', 'AccessToken', 'RefreshToken'];
const DEFAULT_BATCH = 50_000;

export async function insertPayloadRows(knex: Knex, spec: PayloadRowsSpec): Promise<number> {
  const withAccount = await knex.schema.hasColumn('oidc_payloads', 'account_id');
  const batch = spec.batchSize ?? DEFAULT_BATCH;
  const lifetime = spec.expired
    ? `now() - interval '1 minute' - random() * interval '7 days'`
    : `now() + interval '1 hour' + random() * interval '23 hours'`;
  const accountColumn = withAccount ? ', account_id' : '';
  const accountValue = withAccount ? `, CASE WHEN model <> 'ClientCredentials' THEN account_id END` : '';
  let inserted = 0;
  for (let from = 0; from < spec.count; from += batch) {
    const to = Math.min(spec.count, from + batch) - 1;
    const result = await knex.raw(
      `WITH src AS (
         SELECT g,
           (?::text[])[1 + g % ?] AS model,
           (?::text[])[1 + g % ?] AS client_id,
           (?::text[])[1 + g % ?] AS account_id,
           substr(translate(encode(sha256((? || 't' || g || random()::text)::bytea), 'base64'), '+/=', '-_'), 1, 43) AS id,
           substr(translate(encode(sha256((? || 'g' || (g / 2))::bytea), 'base64'), '+/=', '-_'), 1, 43) AS grant_id,
           ${lifetime} AS expires_at
         FROM generate_series(?::int, ?::int) AS g)
       INSERT INTO oidc_payloads (model, id, payload, grant_id, client_id${accountColumn}, expires_at)
       SELECT model, id,
         jsonb_strip_nulls(jsonb_build_object(
           'iat', extract(epoch FROM expires_at)::bigint - 900,
           'exp', extract(epoch FROM expires_at)::bigint,
           'jti', id,
           'kind', model,
           'clientId', client_id,
           'accountId', CASE WHEN model <> 'ClientCredentials' THEN account_id END,
           'grantId', CASE WHEN model <> 'ClientCredentials' THEN grant_id END,
           'gty', CASE WHEN model <> 'ClientCredentials' THEN 'authorization_code' END,
           'scope', CASE WHEN model = 'ClientCredentials' THEN 'read' ELSE 'openid offline_access' END)),
         CASE WHEN model <> 'ClientCredentials' THEN grant_id END,
         client_id${accountValue},
         expires_at
       FROM src`,
      [
        TOKEN_MODELS,
        TOKEN_MODELS.length,
        spec.clientIds,
        spec.clientIds.length,
        spec.accountIds,
        spec.accountIds.length,
        spec.salt,
        spec.salt,
        from,
        to,
      ],
    );
    inserted += result.rowCount ?? 0;
  }
  return inserted;
}

export async function countExpiredRows(knex: Knex): Promise<number> {
  const row = await knex('oidc_payloads').where('expires_at', '<', knex.fn.now()).count<{ n: number }[]>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}
