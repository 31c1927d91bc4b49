import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { PRUNE_BATCH_SIZE } from '../../lib/jobs/prune.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { usingPostgres } from '../support/database.js';
import { signUpAccount } from '../support/flow.js';

/**
 * SECURITY.md G.44 — expired rows are deleted in batches by a job that does not lock the
 * tables. The prune job of a real Latch (lib/jobs/prune.ts) runs over tens of thousands of
 * expired rows; every statement it sends is watched through knex. On PostgreSQL a writer and a
 * reader work on the same table meanwhile, with `lock_timeout` set so that any wait on a lock
 * fails them, while a third connection samples `pg_locks` for the modes the job holds.
 */
describe('SECURITY G.44 — expired rows are deleted in batches by a job that does not lock the tables', function () {
  let latch: TestLatch;
  const EXPIRED = 20_000;
  /** the lock modes that block no reader or writer of ordinary rows */
  const WEAK_MODES = ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock'];

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch({ LATCH_PRUNE_INTERVAL: '1d' });
  });
  after(() => latch.close());

  const hourAgo = () => new Date(Date.now() - 3600_000);
  const inAnHour = () => new Date(Date.now() + 3600_000);

  async function insertPayloads(prefix: string, n: number, expiresAt: Date | null, model = 'AccessToken') {
    const rows = Array.from({ length: n }, (_, i) => ({ model, id: `${prefix}-${i}`, payload: JSON.stringify({ jti: `${prefix}-${i}`, kind: model }), expires_at: expiresAt }));
    for (let i = 0; i < rows.length; i += 1000) await latch.container.knex('oidc_payloads').insert(rows.slice(i, i + 1000));
  }
  const countLike = async (table: string, column: string, pattern: string) =>
    Number((await latch.container.knex(table).where(column, 'like', pattern).count<{ n: string }[]>('* as n'))[0]!.n);
  const liveRows = (prefix: string) => latch.container.knex('oidc_payloads').where('id', 'like', `${prefix}-%`).orderBy('id').select('model', 'id', 'payload', 'expires_at', 'consumed_at');

  /** Runs `fn` while recording every statement Latch's own connection pool sends, with its row count. */
  async function watchStatements<T>(fn: () => Promise<T>) {
    const statements: Array<{ sql: string; rows: number }> = [];
    const onResponse = (response: unknown, query: { sql: string }) => {
      const rows = typeof response === 'number' ? response : Number((response as { rowCount?: number } | undefined)?.rowCount ?? 0);
      statements.push({ sql: query.sql, rows });
    };
    latch.container.knex.on('query-response', onResponse);
    try {
      const result = await fn();
      return { result, statements };
    } finally {
      latch.container.knex.removeListener('query-response', onResponse);
    }
  }
  const deletesOf = (statements: Array<{ sql: string; rows: number }>, table?: string) =>
    statements.filter((s) => /^\s*delete\b/i.test(s.sql) && (!table || new RegExp(`^\\s*delete from "?${table}"?\\s`, 'i').test(s.sql)));

  it(`deletes ${EXPIRED.toLocaleString('en')} expired tokens in batches of the configured size (${PRUNE_BATCH_SIZE}), leaving live rows untouched`, async function () {
    this.timeout(300_000);
    await insertPayloads('g44a-expired', EXPIRED, hourAgo());
    await insertPayloads('g44a-live', 300, inAnHour());
    await insertPayloads('g44a-forever', 20, null, 'Client');
    const liveBefore = [...(await liveRows('g44a-live')), ...(await liveRows('g44a-forever'))];

    const { statements } = await watchStatements(() => latch.container.prune.runOnce());

    expect(await countLike('oidc_payloads', 'id', 'g44a-expired-%')).to.equal(0);
    expect([...(await liveRows('g44a-live')), ...(await liveRows('g44a-forever'))]).to.deep.equal(liveBefore);
    const batches = deletesOf(statements, 'oidc_payloads');
    expect(batches.reduce((sum, s) => sum + s.rows, 0)).to.equal(EXPIRED);
    for (const batch of batches) {
      expect(batch.sql, 'each batch is bounded').to.match(/\blimit\b/i);
      expect(batch.sql, 'each batch skips rows others hold').to.match(/for update skip locked/i);
      expect(batch.rows).to.be.at.most(PRUNE_BATCH_SIZE);
    }
    // full batches until the expired rows run out, then one short batch that ends the run
    expect(batches.filter((b) => b.rows === PRUNE_BATCH_SIZE)).to.have.length(Math.floor(EXPIRED / PRUNE_BATCH_SIZE));
    expect(batches).to.have.length(Math.floor(EXPIRED / PRUNE_BATCH_SIZE) + 1);
    expect(batches.at(-1)!.rows).to.be.below(PRUNE_BATCH_SIZE);
  });

  it('every other table the job cleans is pruned in bounded batches too (throttling counters, e-mail tokens, MFA and upstream leftovers)', async function () {
    this.timeout(300_000);
    const knex = latch.container.knex;
    const account = await signUpAccount(latch, 'prune@example.com');
    const oldMs = Date.now() - 2 * 3600_000;
    // throttling counters: anyone can make these grow, one per address or e-mail tried
    const counters = Array.from({ length: 5000 }, (_, i) => ({ key: `g44-counter-${i}`, points: 1, expire: oldMs }));
    for (let i = 0; i < counters.length; i += 1000) await knex('rate_limits').insert(counters.slice(i, i + 1000));
    await knex('rate_limits').insert({ key: 'g44-counter-live', points: 1, expire: Date.now() + 3600_000 });
    const twoDaysAgo = new Date(Date.now() - 2 * 86400_000);
    const tokens = Array.from({ length: 1200 }, (_, i) => ({ id: `g44-mail-${i}`, account_id: account.id, purpose: 'verify-email', token_hash: `g44-hash-${i}`, expires_at: twoDaysAgo }));
    for (let i = 0; i < tokens.length; i += 600) await knex('email_tokens').insert(tokens.slice(i, i + 600));
    const challenges = Array.from({ length: 1200 }, (_, i) => ({ id: `g44-challenge-${i}`, purpose: 'passkey-sign-in', binding: `g44-binding-${i}`, challenge: `c${i}`, expires_at: hourAgo() }));
    for (let i = 0; i < challenges.length; i += 600) await knex('webauthn_challenges').insert(challenges.slice(i, i + 600));
    const pending = Array.from({ length: 700 }, (_, i) => ({ interaction_uid: `g44-pending-${i}`, account_id: account.id, amr: ['pwd'], expires_at: hourAgo() }));
    await knex('mfa_pending_sign_ins').insert(pending);

    const { statements } = await watchStatements(() => latch.container.prune.runOnce());

    expect(await countLike('rate_limits', 'key', 'g44-counter-%')).to.equal(1);
    expect(await knex('rate_limits').where({ key: 'g44-counter-live' }).first()).to.not.equal(undefined);
    expect(await countLike('email_tokens', 'id', 'g44-mail-%')).to.equal(0);
    expect(await countLike('webauthn_challenges', 'id', 'g44-challenge-%')).to.equal(0);
    expect(await countLike('mfa_pending_sign_ins', 'interaction_uid', 'g44-pending-%')).to.equal(0);
    const deletes = deletesOf(statements);
    expect(deletes.length).to.be.greaterThan(0);
    for (const statement of deletes) {
      // a statement deleting whatever matches, however many, would hold its locks for as long as that takes
      expect(statement.sql, statement.sql).to.match(/\blimit\b/i);
      expect(statement.rows, statement.sql).to.be.at.most(PRUNE_BATCH_SIZE);
    }
    const counterBatches = deletesOf(statements, 'rate_limits');
    expect(counterBatches.reduce((sum, s) => sum + s.rows, 0)).to.equal(5000);
    expect(counterBatches.length).to.be.at.least(Math.ceil(5000 / PRUNE_BATCH_SIZE));
  });

  describe('with a concurrent writer and reader on PostgreSQL', function () {
    before(function () {
      if (!usingPostgres()) {
        console.log('      (skipped on PGlite: the embedded database serves one connection at a time, so no other session can run or wait during a prune; set DATABASE_URL to run it)');
        this.skip();
      }
    });

    it('holds no table lock stronger than ROW EXCLUSIVE, never makes a writer wait, and deletes every expired row', async function () {
      this.timeout(300_000);
      const url = latch.env.DATABASE_URL!;
      const connect = () => knexFactory({ client: 'pg', connection: url, pool: { min: 1, max: 1 } });
      const writer = connect();
      const reader = connect();
      const watcher = connect();
      const connections: Knex[] = [writer, reader, watcher];
      try {
        await insertPayloads('g44c-expired', EXPIRED, hourAgo());
        await insertPayloads('g44c-contended', 40, hourAgo()); // expired rows the writer keeps touching
        await insertPayloads('g44c-live', 300, inAnHour());
        await insertPayloads('g44c-writer', 50, inAnHour());
        const liveBefore = await liveRows('g44c-live');
        // any wait for a lock longer than this fails the statement (SQLSTATE 55P03) instead of timing it
        for (const k of [writer, reader]) await k.raw("SET lock_timeout = '250ms'");
        const ours = new Set<number>();
        for (const k of connections) ours.add(Number((await k.raw('SELECT pg_backend_pid() AS pid')).rows[0].pid));

        let running = true;
        const failures: string[] = [];
        const latencies: number[] = [];
        const timed = async (label: string, op: () => Promise<unknown>) => {
          const started = performance.now();
          try {
            await op();
          } catch (err) {
            failures.push(`${label}: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
          }
          latencies.push(performance.now() - started);
        };
        const writing = (async () => {
          for (let i = 0; running; i += 1) {
            const id = `g44c-new-${i}`;
            await timed('insert', () => writer('oidc_payloads').insert({ model: 'AccessToken', id, payload: JSON.stringify({ i }), expires_at: inAnHour() }));
            await timed('update live', () => writer('oidc_payloads').where({ model: 'AccessToken', id: `g44c-writer-${i % 50}` }).update({ payload: JSON.stringify({ touched: i }) }));
            await timed('update expired', () => writer('oidc_payloads').where({ model: 'AccessToken', id: `g44c-contended-${i % 40}` }).update({ consumed_at: new Date() }));
            await timed('delete own', () => writer('oidc_payloads').where({ model: 'AccessToken', id }).delete());
          }
        })();
        const reading = (async () => {
          for (let i = 0; running; i += 1) {
            await timed('read', () => reader('oidc_payloads').where({ model: 'AccessToken', id: `g44c-live-${i % 300}` }).first());
            await timed('count', () => reader('oidc_payloads').where('id', 'like', 'g44c-live-%').count());
          }
        })();
        const held: Array<{ pid: number; mode: string; relname: string; query: string }> = [];
        const watching = (async () => {
          while (running) {
            const { rows } = await watcher.raw(
              `SELECT l.pid, l.mode, c.relname, a.query FROM pg_locks l
                 JOIN pg_class c ON c.oid = l.relation
                 JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND c.relname LIKE 'oidc_payloads%' AND a.backend_type = 'client backend' AND l.pid <> pg_backend_pid()`,
            );
            held.push(...(rows as typeof held).map((r) => ({ ...r, pid: Number(r.pid) })));
          }
        })();

        const { statements } = await watchStatements(() => latch.container.prune.runOnce());
        running = false;
        await Promise.all([writing, reading, watching]);

        // the writer and reader never waited on a lock, and kept working throughout
        expect(failures, failures.slice(0, 5).join('\n')).to.deep.equal([]);
        expect(latencies.length).to.be.at.least(40);
        expect(Math.max(...latencies), 'slowest concurrent statement (ms)').to.be.below(2000);
        // the job's own locks, as PostgreSQL reported them while it ran
        const jobs = held.filter((h) => !ours.has(h.pid));
        expect(jobs.some((h) => h.mode === 'RowExclusiveLock' && /delete/i.test(h.query)), 'the watcher saw the job delete').to.equal(true);
        const strong = held.filter((h) => !WEAK_MODES.includes(h.mode));
        expect(strong, JSON.stringify(strong.slice(0, 3))).to.deep.equal([]);
        // in batches, every one bounded
        const batches = deletesOf(statements, 'oidc_payloads');
        for (const batch of batches) expect(batch.rows).to.be.at.most(PRUNE_BATCH_SIZE);
        expect(batches.length).to.be.at.least(Math.ceil(EXPIRED / PRUNE_BATCH_SIZE));

        expect(await countLike('oidc_payloads', 'id', 'g44c-expired-%')).to.equal(0);
        expect(await liveRows('g44c-live')).to.deep.equal(liveBefore);
        expect(await countLike('oidc_payloads', 'id', 'g44c-writer-%')).to.equal(50);
        // rows the writer held were skipped, not waited for; the next run, with the writer gone, takes them
        await latch.container.prune.runOnce();
        expect(await countLike('oidc_payloads', 'id', 'g44c-contended-%')).to.equal(0);
      } finally {
        await Promise.all(connections.map((k) => k.destroy()));
      }
    });
  });
});
