import { expect } from 'chai';
import type { Knex } from 'knex';
import request from 'supertest';
import { introspect, refresh, signUpAccount, tokensFor } from '../support/flow.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { explainGenericPlan, queriesDuring } from '../support/queries.js';

/**
 * A token's grant is read with the token (lib/oidc/oidc-payloads.queries.ts): oidc-provider
 * reads a refresh or access token and then its grant, and the grant's row comes back from the
 * token's own statement, kept for that request only (lib/oidc/payload-write-batch.ts). What a
 * request decides must be what it decided when the grant had a look-up of its own: a grant
 * that is gone or expired refuses the token.
 */
describe('a token and its grant in one look-up', function () {
  let latch: TestLatch;
  const redirectUri = 'https://read-ahead.example.com/cb';
  const email = 'read-ahead@example.com';
  let clientId: string;

  before(async function () {
    this.timeout(180_000);
    latch = await startLatch();
    ({ clientId } = await latch.container.clients.create({ name: 'Read-ahead App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] }));
    await signUpAccount(latch, email);
  });
  after(() => latch.close());

  /** The SELECTs on oidc_payloads while `fn` runs. */
  async function payloadReads(fn: () => Promise<unknown>): Promise<string[]> {
    const { queries } = await queriesDuring(latch.container.knex, fn);
    return queries.map((q) => q.sql).filter((sql) => /^\s*select/i.test(sql) && /from "oidc_payloads"/.test(sql));
  }

  const signedIn = () => tokensFor(latch, request.agent(latch.url), { clientId, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
  const grantOf = async (refreshToken: string) =>
    (await latch.container.knex('oidc_payloads').where({ model: 'RefreshToken', id: refreshToken }).first('grant_id')).grant_id as string;

  it('a refresh reads its token and the grant in one statement, and rotates', async () => {
    const { tokens } = await signedIn();
    let res: request.Response | undefined;
    const reads = await payloadReads(async () => {
      res = await refresh(latch, { clientId }, tokens.refresh_token!);
    });
    expect(res!.status, res!.text).to.equal(200);
    expect(reads, 'the refresh token with its grant; no look-up of the grant alone').to.have.length(1);
    expect(reads[0]).to.match(/from "oidc_payloads" as "g" where "g"."model" = 'Grant'/);
    const again = await refresh(latch, { clientId }, res!.body.refresh_token);
    expect(again.status, 'the rotated token refreshes in turn').to.equal(200);
  });

  it('looks the grant up by its whole primary key in the plan PostgreSQL keeps, whatever the statistics held when it was made', async () => {
    const { tokens } = await signedIn();
    const [sql] = await payloadReads(() => refresh(latch, { clientId }, tokens.refresh_token!));
    const { knex } = latch.container;
    // a prepared statement keeps one generic plan; ask for that plan, as PostgreSQL makes it after five runs
    const plan = JSON.stringify(await explainGenericPlan(knex, sql!, ['now()', 'now()', "'RefreshToken'", "'x'", 'now()']));
    const grantScans = [...plan.matchAll(/"Alias":"g"[^}]*?"Index Cond":"([^"]*)"/g)].map((m) => m[1]);
    expect(grantScans, plan).to.have.length.greaterThan(0);
    for (const cond of grantScans) expect(cond, 'the grant by (model, id), never by model alone').to.match(/id = t\.grant_id/);
  });

  it('a refresh whose grant is gone is refused, without a second look-up', async () => {
    const { tokens } = await signedIn();
    await latch.container.knex('oidc_payloads').where({ model: 'Grant', id: await grantOf(tokens.refresh_token!) }).delete();
    let res: request.Response | undefined;
    const reads = await payloadReads(async () => {
      res = await refresh(latch, { clientId }, tokens.refresh_token!);
    });
    expect(res!.status).to.equal(400);
    expect(res!.body.error).to.equal('invalid_grant');
    expect(reads, 'the missing grant was known from the token look-up').to.have.length(1);
  });

  it('a refresh whose grant has expired is refused', async () => {
    const { tokens } = await signedIn();
    await latch.container
      .knex('oidc_payloads')
      .where({ model: 'Grant', id: await grantOf(tokens.refresh_token!) })
      .update({ expires_at: new Date(Date.now() - 1000) });
    const res = await refresh(latch, { clientId }, tokens.refresh_token!);
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('invalid_grant');
  });

  it('introspection answers from the grant read with the token: active while it lives, inactive once it is gone', async () => {
    const { tokens } = await signedIn();
    let body: Record<string, unknown> | undefined;
    const reads = await payloadReads(async () => {
      body = await introspect(latch, { clientId }, tokens.refresh_token!);
    });
    expect(body).to.include({ active: true, client_id: clientId });
    expect(reads, 'the token as each type it may be, with its grant, in one statement').to.have.length(1);
    await latch.container.knex('oidc_payloads').where({ model: 'Grant', id: await grantOf(tokens.refresh_token!) }).delete();
    expect(await introspect(latch, { clientId }, tokens.refresh_token!)).to.deep.equal({ active: false });
  });

  it('a token looked up as every type it may be reads the primary key once, as a look-up as one type does', async () => {
    const { tokens } = await signedIn();
    const { knex, queries } = latch.container;
    // enough rows that each model's keys fill leaf pages of their own, as in any real table
    await knex.raw(`insert into oidc_payloads (model, id, payload, expires_at)
      select m, md5(m || g), '{}', now() + interval '1 hour' from unnest(array['AccessToken', 'ClientCredentials', 'RefreshToken']) as m, generate_series(1, 2000) as g`);
    await knex.raw('analyze oidc_payloads');
    const lookUp = async (models: string[]) => {
      const { queries: sent } = await queriesDuring(knex, () => Promise.all(models.map((model) => queries.payloads.find(model, tokens.refresh_token!))));
      expect(sent, 'the look-ups of one turn share a statement').to.have.length(1);
      const { sql, bindings } = sent[0]!;
      const literal = (value: unknown) => knex.raw('?', [value as Knex.Value]).toQuery();
      // the key, as on a table of any size (on the test's few rows a planner may scan them all),
      // in the generic plan a prepared statement keeps after its first five runs
      const [explained] = await explainGenericPlan(knex, sql, (bindings ?? []).map(literal), {
        options: ['analyze', 'buffers'],
        settings: ['enable_seqscan = off', 'enable_bitmapscan = off'],
      });
      // the scan of the token table itself (alias t): its index and heap pages, not the grant's subquery
      const plan = explained!.Plan as { 'Node Type': string; Alias?: string; 'Shared Hit Blocks': number; 'Shared Read Blocks': number };
      expect(plan, JSON.stringify(plan)).to.include({ 'Node Type': 'Index Scan', Alias: 't' });
      return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
    };
    const asOne = await lookUp(['RefreshToken']);
    const asThree = await lookUp(['AccessToken', 'ClientCredentials', 'RefreshToken']);
    expect(asOne).to.be.greaterThan(0);
    expect(asThree, 'introspection or revocation without a token_type_hint: one descent of the key, not one per model').to.equal(asOne);
  });

  it('a grant the request revokes is not handed out from what was read ahead: a replayed refresh token ends the grant', async () => {
    const { tokens } = await signedIn();
    const first = await refresh(latch, { clientId }, tokens.refresh_token!);
    expect(first.status).to.equal(200);
    const replay = await refresh(latch, { clientId }, tokens.refresh_token!);
    expect(replay.status).to.equal(400);
    expect(replay.body.error).to.equal('invalid_grant');
    expect((await refresh(latch, { clientId }, first.body.refresh_token)).body.error, 'the grant went with the replay').to.equal('invalid_grant');
    expect((await introspect(latch, { clientId }, first.body.access_token)).active).to.equal(false);
  });
});
