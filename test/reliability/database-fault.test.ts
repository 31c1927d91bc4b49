import { expect } from 'chai';
import { startLatch, type TestLatch } from '../support/latch.js';
import { privatePostgresUnavailable, startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';
import { createWorkload, runLoad, seedLoadFixture, type LoadFixture, type Outcome, type Workload } from '../support/workload.js';
import { usingPostgres } from '../support/database.js';

/**
 * SECURITY G.41 — the database goes away under load and comes back. Latch runs on a
 * PostgreSQL server of this test's own (never the shared one), with the mixed load running;
 * the server is stopped for 10 s and started again. While it is down Latch answers 503 with a
 * clear error (OAuth error JSON, `{error, message}`, or a page) and /readyz fails; within 5 s
 * of its return requests succeed again without a restart; every token issued before the
 * fault still works, and every token handed out at any time is one the database kept.
 *
 * Runs in the PostgreSQL pass of the suite only (DATABASE_URL set), to keep CI time down.
 */
const DOWN_MS = 10_000;
const RECOVERY_LIMIT_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const skipReason = !usingPostgres() ? 'runs in the PostgreSQL pass (DATABASE_URL) only' : privatePostgresUnavailable();

describe('SECURITY G.41 — database down: 503 with a clear error, recovery without restart, no half-issued tokens', function () {
  this.timeout(180_000);
  let pg: PrivatePostgres;
  let latch: TestLatch;
  let fixture: LoadFixture;
  let workload: Workload;
  let apiKey: string;
  const outcomes: Array<Outcome & { phase: 'before' | 'down' | 'after' }> = [];
  let phase: 'before' | 'down' | 'after' = 'before';

  before(async function () {
    if (skipReason) {
      console.log(`      (skipped: ${skipReason})`);
      this.skip();
    }
    pg = await startPrivatePostgres();
    latch = await startLatch({}, { env: { DATABASE_URL: pg.url }, drop: async () => undefined });
    fixture = await seedLoadFixture(latch);
    ({ key: apiKey } = await latch.container.apiKeys.admin.create({ owner: fixture.person.id, name: 'fault drill', scopes: ['api:read'] }));
    workload = createWorkload(fixture, { target: () => latch.url, deviceIntervalSeconds: 1, keepIssued: true });
  });
  after(async () => {
    await latch?.close().catch(() => undefined);
    pg?.destroy();
  });

  it('under load: 503s while down, /readyz fails, back within 5 s, every token kept', async () => {
    const load = runLoad(workload, { ratePerSecond: 12, concurrency: 8, onOutcome: (o) => outcomes.push({ ...o, phase }) });
    await sleep(4000);
    const issuedBefore = workload.issued.length;
    expect(issuedBefore, 'tokens issued before the fault').to.be.greaterThan(5);

    phase = 'down';
    pg.stop();
    const downAt = Date.now();
    await sleep(1000);
    const ready = await fetch(`${latch.url}/readyz`);
    expect(ready.status).to.equal(503);
    expect(await ready.json()).to.deep.include({ status: 'unavailable' });

    // each kind of endpoint says so in its own way
    const token = await fetch(`${latch.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${fixture.service.clientId}:${fixture.service.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).to.equal(503);
    expect(token.headers.get('retry-after')).to.match(/^\d+$/);
    const tokenBody = (await token.json()) as { error: string; error_description: string };
    expect(tokenBody.error).to.equal('temporarily_unavailable');
    expect(tokenBody.error_description).to.match(/database/);
    const page = await fetch(`${latch.url}/forgot-password`, { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=a%40example.com' });
    expect(page.status).to.be.oneOf([403, 503]); // no CSRF cookie: refused before the database is needed, or 503
    const api = await fetch(`${latch.url}/api/v1/me`, { headers: { authorization: `ApiKey ${apiKey}` } });
    expect(api.status).to.equal(503);
    expect(await api.json()).to.deep.include({ error: 'unavailable' });
    const signInPage = await fetch(`${latch.url}/auth?client_id=${fixture.app.clientId}&response_type=code&redirect_uri=${encodeURIComponent(fixture.app.redirectUri)}&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`, { redirect: 'manual' });
    expect(signInPage.status).to.equal(503);
    expect(await signInPage.text()).to.match(/database/);

    await sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)));
    pg.start();
    const upAt = Date.now();
    phase = 'after';
    let recoveredMs: number | undefined;
    while (Date.now() - upAt < RECOVERY_LIMIT_MS + 5000) {
      const res = await fetch(`${latch.url}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${fixture.service.clientId}:${fixture.service.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
      if (res.status === 200) {
        recoveredMs = Date.now() - upAt;
        break;
      }
      await sleep(100);
    }
    expect(recoveredMs, 'requests succeed again').to.be.a('number');
    expect(recoveredMs!, 'milliseconds until requests succeed again').to.be.at.most(RECOVERY_LIMIT_MS);
    expect((await fetch(`${latch.url}/readyz`)).status).to.equal(200);
    await sleep(4000);
    await load.stop();
    console.log(`      back ${recoveredMs} ms after the database; ${outcomes.length} operations (${outcomes.filter((o) => o.phase === 'down').length} while it was down)`);

    // no request went unanswered or crashed: failures while down are 503s, nothing else
    const bad = outcomes.filter((o) => o.status === 0 || (o.status >= 500 && o.status !== 503) || (o.status === 503 && o.phase === 'before'));
    expect(bad.map((o) => `${o.phase} ${o.kind} ${o.status} ${o.problem ?? ''}`)).to.deep.equal([]);
    const wrong = outcomes.filter((o) => o.status > 0 && o.status < 500 && o.problem);
    expect(wrong.map((o) => `${o.phase} ${o.kind} ${o.status} ${o.problem}`)).to.deep.equal([]);
    expect(outcomes.filter((o) => o.phase === 'down' && o.status === 503).length, '503s while down').to.be.greaterThan(0);
    expect(outcomes.filter((o) => o.phase === 'after' && o.status === 200).length, 'successes after').to.be.greaterThan(0);

    // every access token handed out — before, during or after the fault — is one the database kept
    const basic = `Basic ${Buffer.from(`${fixture.service.clientId}:${fixture.service.clientSecret}`).toString('base64')}`;
    const inactive: string[] = [];
    for (const issued of workload.issued.filter((t) => t.kind === 'access')) {
      const res = await fetch(`${latch.url}/token/introspection`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${issued.token}` });
      const body = (await res.json()) as { active: boolean };
      if (!body.active) inactive.push(`${new Date(issued.at).toISOString()} ${issued.token.slice(0, 8)}`);
    }
    expect(inactive, 'access tokens handed out that do not work').to.deep.equal([]);
    // every refresh token the clients still hold (unused, from before or after the fault) works
    const refreshed: number[] = [];
    for (const refreshToken of workload.refreshTokens.splice(0)) {
      const res = await fetch(`${latch.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: fixture.app.clientId }).toString() });
      refreshed.push(res.status);
    }
    expect(refreshed.length, 'refresh tokens held').to.be.greaterThan(0);
    expect(refreshed.filter((s) => s !== 200), 'refresh tokens that no longer work').to.deep.equal([]);
  });
});
