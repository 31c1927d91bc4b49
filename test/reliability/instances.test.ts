import { expect } from 'chai';
import { spawnLatch, type ChildLatch } from '../support/child-latch.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { freePort, latchEnv, startLatch } from '../support/latch.js';
import { createWorkload, runLoad, seedLoadFixture, type LoadFixture, type Outcome } from '../support/workload.js';

/**
 * SECURITY G.42 — two Latch processes on one PostgreSQL, behind a round-robin "balancer" (the
 * load picks an instance per operation, so tokens minted on one are refreshed and introspected
 * on the other). One is killed with SIGKILL mid-run: the flows go on, on the other, with no
 * grant lost; the killed one starts again cleanly on the same database.
 *
 * Runs in the PostgreSQL pass (DATABASE_URL) only: the embedded database has one process.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SECURITY G.42 — two instances on one database; one killed with SIGKILL under load', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let fixture: LoadFixture;
  const instances: ChildLatch[] = [];

  before(async function () {
    if (!usingPostgres()) {
      console.log('      (skipped: runs in the PostgreSQL pass (DATABASE_URL) only)');
      this.skip();
    }
    db = await createTestDatabase();
    const seeding = await startLatch({}, db);
    fixture = await seedLoadFixture(seeding);
    await seeding.close();
  });
  after(async () => {
    for (const instance of instances) await instance.stop('SIGKILL');
  });

  it('flows continue on the survivor, no grant is lost, and the killed one restarts cleanly', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const envA = latchEnv(db, portA, { LOG_LEVEL: 'warn' });
    const [a, b] = await Promise.all([spawnLatch(envA), spawnLatch(latchEnv(db, portB, { LOG_LEVEL: 'warn' }))]);
    instances.push(a, b);

    let alive = [a.url, b.url];
    let next = 0;
    const workload = createWorkload(fixture, { target: () => alive[next++ % alive.length]!, deviceIntervalSeconds: 1, keepIssued: true });
    const outcomes: Array<Outcome & { afterKill: boolean }> = [];
    let killed = false;
    const load = runLoad(workload, { ratePerSecond: 16, concurrency: 8, onOutcome: (o) => outcomes.push({ ...o, afterKill: killed }) });
    await sleep(4000);

    a.process.kill('SIGKILL');
    killed = true;
    alive = [b.url]; // the balancer takes the dead instance out
    const { signal } = await a.exited;
    expect(signal).to.equal('SIGKILL');
    await sleep(4000);

    // the killed instance starts again on the same database and port, and takes load again
    const restarted = await spawnLatch(envA);
    instances.push(restarted);
    alive = [restarted.url, b.url];
    await sleep(3000);
    await load.stop();

    const onA = (o: Outcome) => o.target === a.url;
    // only operations that were on the killed instance when it died may have failed, without an answer
    const failed = outcomes.filter((o) => o.status === 0 || o.status >= 500 || o.problem);
    const excused = failed.filter((o) => onA(o) && o.status === 0);
    console.log(`      ${outcomes.length} operations; ${excused.length} cut off on the killed instance; ${outcomes.filter((o) => o.afterKill && o.status === 200).length} succeeded after the kill`);
    expect(failed.filter((o) => !excused.includes(o)).map((o) => `${o.kind} ${o.status} ${o.problem ?? ''} on ${onA(o) ? 'A' : 'B'}`)).to.deep.equal([]);
    expect(outcomes.filter((o) => o.afterKill && o.target === restarted.url && o.status === 200).length, 'operations the restarted instance served').to.be.greaterThan(0);

    // no lost grants: every access token handed out introspects as active on either instance,
    // every refresh token still held works on the restarted one
    const basic = `Basic ${Buffer.from(`${fixture.service.clientId}:${fixture.service.clientSecret}`).toString('base64')}`;
    const lost: string[] = [];
    let i = 0;
    for (const issued of workload.issued.filter((t) => t.kind === 'access')) {
      const target = [restarted.url, b.url][i++ % 2]!;
      const res = await fetch(`${target}/token/introspection`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${issued.token}` });
      if (!((await res.json()) as { active: boolean }).active) lost.push(`${issued.token.slice(0, 8)} from ${issued.target === a.url ? 'A' : 'B'}`);
    }
    expect(lost, 'access tokens that no longer work').to.deep.equal([]);
    const refreshes = await Promise.all(
      workload.refreshTokens.splice(0).map((token) =>
        fetch(`${restarted.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: fixture.app.clientId }).toString() }).then((r) => r.status),
      ),
    );
    expect(refreshes.length).to.be.greaterThan(0);
    expect(refreshes.filter((s) => s !== 200)).to.deep.equal([]);

    for (const instance of [b, restarted]) expect(instance.errorLines().map((l) => JSON.stringify(l).slice(0, 300))).to.deep.equal([]);
  });
});
