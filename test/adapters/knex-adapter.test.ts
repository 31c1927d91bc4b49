import { expect } from 'chai';
import { createAdapterFactory } from '../../adapters/knex-adapter.js';
import { createClientQueries } from '../../lib/clients/clients.queries.js';
import { createChangeFeed } from '../../lib/db/change-feed.js';
import { migrateLatest, openDatabase, type Database } from '../../lib/db/database.js';
import { createLogger } from '../../lib/log.js';
import { createOidcPayloadQueries } from '../../lib/oidc/oidc-payloads.queries.js';
import { loadConfig } from '../../lib/config/config.js';
import { createTestDatabase } from '../support/database.js';

/** The adapter contract oidc-provider relies on, on whichever database the suite runs. */
describe('Knex adapter contract', () => {
  let db: Database;
  let adapterFor: ReturnType<typeof createAdapterFactory>;

  before(async () => {
    const testDb = await createTestDatabase();
    db = await openDatabase(loadConfig({ ...testDb.env }).database);
    await migrateLatest(db.knex);
    const changes = createChangeFeed({ knex: db.knex, kind: db.kind, url: testDb.env.DATABASE_URL, log: createLogger('silent') });
    adapterFor = createAdapterFactory({ payloads: createOidcPayloadQueries(db.knex), clients: createClientQueries(db.knex, changes) });
  });
  after(() => db.close());

  it('stores and finds a payload; upsert replaces it', async () => {
    const a = adapterFor('AccessToken');
    await a.upsert('t1', { jti: 't1', clientId: 'c', grantId: 'g0' } as never, 60);
    expect(await a.find('t1')).to.include({ jti: 't1', clientId: 'c' });
    await a.upsert('t1', { jti: 't1', clientId: 'c2', grantId: 'g0' } as never, 60);
    expect(await a.find('t1')).to.include({ clientId: 'c2' });
    expect(await adapterFor('RefreshToken').find('t1')).to.equal(undefined);
  });

  it('never returns an expired row', async () => {
    const a = adapterFor('AuthorizationCode');
    await a.upsert('expiring', { jti: 'expiring', uid: 'u-exp', userCode: 'EXPIRED1' } as never, 1);
    expect(await a.find('expiring')).to.not.equal(undefined);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await a.find('expiring')).to.equal(undefined);
    expect(await a.findByUid('u-exp')).to.equal(undefined);
    expect(await a.findByUserCode('EXPIRED1')).to.equal(undefined);
  });

  it('finds by uid (sessions) and by user code (device codes)', async () => {
    await adapterFor('Session').upsert('s1', { uid: 'uid-1', accountId: 'a' } as never, 60);
    expect(await adapterFor('Session').findByUid('uid-1')).to.include({ accountId: 'a' });
    expect(await adapterFor('Session').findByUid('uid-2')).to.equal(undefined);
    await adapterFor('DeviceCode').upsert('d1', { userCode: 'BCDFGHJK', clientId: 'c' } as never, 60);
    expect(await adapterFor('DeviceCode').findByUserCode('BCDFGHJK')).to.include({ clientId: 'c' });
    expect(await adapterFor('DeviceCode').findByUserCode('BCDFGHJL')).to.equal(undefined);
  });

  it('consume marks a row consumed; 20 concurrent consumers: exactly one wins', async () => {
    const a = adapterFor('AuthorizationCode');
    await a.upsert('code-1', { jti: 'code-1', grantId: 'grant-race' } as never, 60);
    await adapterFor('Grant').upsert('grant-race', { jti: 'grant-race' } as never, 60);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => a.consume('code-1')));
    expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
      expect(r.reason.error).to.equal('invalid_grant');
    }
    // the losers presented a used code: the grant is revoked with everything in it
    expect(await adapterFor('Grant').find('grant-race')).to.equal(undefined);
  });

  it('concurrent consumes of different rows share one statement; each caller wins its own row, a second consume of one loses', async () => {
    const a = adapterFor('RefreshToken');
    for (const id of ['rt-batch-1', 'rt-batch-2', 'rt-batch-3']) await a.upsert(id, { jti: id, grantId: `g-${id}` } as never, 60);
    await adapterFor('Grant').upsert('g-rt-batch-3', { jti: 'g-rt-batch-3' } as never, 60);
    const updates: string[] = [];
    const listener = (q: { sql: string }) => {
      if (/^update "oidc_payloads" set "consumed_at"/.test(q.sql)) updates.push(q.sql);
    };
    db.knex.on('query', listener);
    let outcomes: PromiseSettledResult<unknown>[];
    try {
      outcomes = await Promise.allSettled([a.consume('rt-batch-1'), a.consume('rt-batch-2'), a.consume('rt-batch-3'), a.consume('rt-batch-3')]);
    } finally {
      db.knex.removeListener('query', listener);
    }
    expect(updates, 'one UPDATE for the four consumes').to.have.length(1);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    for (const id of ['rt-batch-1', 'rt-batch-2']) expect((await a.find(id))?.consumed).to.be.a('number');
    // the second consume of rt-batch-3 is a replay: its grant is revoked with the token
    expect(await adapterFor('Grant').find('g-rt-batch-3')).to.equal(undefined);
  });

  it('reports consumption in find', async () => {
    const a = adapterFor('RefreshToken');
    await a.upsert('rt-1', { jti: 'rt-1', grantId: 'g-rt' } as never, 60);
    expect((await a.find('rt-1'))?.consumed).to.equal(undefined);
    await a.consume('rt-1');
    expect((await a.find('rt-1'))?.consumed).to.be.a('number');
  });

  it('revokeByGrantId removes every model of the grant and nothing else', async () => {
    await adapterFor('Grant').upsert('grant-x', { jti: 'grant-x' } as never, 60);
    await adapterFor('AccessToken').upsert('at-x', { jti: 'at-x', grantId: 'grant-x' } as never, 60);
    await adapterFor('RefreshToken').upsert('rt-x', { jti: 'rt-x', grantId: 'grant-x' } as never, 60);
    await adapterFor('AuthorizationCode').upsert('ac-x', { jti: 'ac-x', grantId: 'grant-x' } as never, 60);
    await adapterFor('AccessToken').upsert('at-y', { jti: 'at-y', grantId: 'grant-y' } as never, 60);
    await adapterFor('AccessToken').revokeByGrantId('grant-x');
    for (const [model, id] of [['Grant', 'grant-x'], ['AccessToken', 'at-x'], ['RefreshToken', 'rt-x'], ['AuthorizationCode', 'ac-x']] as const) {
      expect(await adapterFor(model).find(id), model).to.equal(undefined);
    }
    expect(await adapterFor('AccessToken').find('at-y')).to.not.equal(undefined);
  });

  it('destroy removes one row', async () => {
    const a = adapterFor('Interaction');
    await a.upsert('i1', { jti: 'i1' } as never, 60);
    await a.destroy('i1');
    expect(await a.find('i1')).to.equal(undefined);
  });

  it('keeps clients in their own table, marked as dynamically registered', async () => {
    const c = adapterFor('Client');
    await c.upsert('client-1', { client_id: 'client-1', redirect_uris: ['https://x.example/cb'] } as never);
    expect(await c.find('client-1')).to.include({ client_id: 'client-1' });
    const row = await db.knex('clients').where({ client_id: 'client-1' }).first();
    expect(row.source).to.equal('dynamic');
    await c.destroy('client-1');
    expect(await c.find('client-1')).to.equal(undefined);
  });

  it('prunes expired rows in batches', async () => {
    const a = adapterFor('AccessToken');
    for (let i = 0; i < 30; i += 1) await a.upsert(`old-${i}`, { jti: `old-${i}` } as never, 1);
    await a.upsert('fresh', { jti: 'fresh' } as never, 600);
    await new Promise((r) => setTimeout(r, 1100));
    const queries = createOidcPayloadQueries(db.knex);
    expect(await queries.deleteExpiredBatch(10)).to.equal(10);
    let total = 10;
    for (;;) {
      const n = await queries.deleteExpiredBatch(10);
      total += n;
      if (n < 10) break;
    }
    expect(total).to.be.at.least(30);
    const left = await db.knex('oidc_payloads').where('expires_at', '<', new Date()).count<{ count: number }[]>('* as count');
    expect(Number(left[0]!.count)).to.equal(0);
    expect(await a.find('fresh')).to.not.equal(undefined);
  });
});
