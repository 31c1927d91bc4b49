import crypto from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import type { Knex } from 'knex';
import { apiTargets } from './api-targets.js';
import { BrowserSession } from './browser-session.js';
import { encodeBody, encodeQuery, mutatedPairs, mutationOf, percent } from './hostile.js';
import { PAGE_AND_PROTOCOL_TARGETS, type FuzzTarget, type Prepared } from './targets.js';
import { buildWorld, startFuzzLatch, type FuzzWorld } from './world.js';
import type { TestLatch } from '../support/latch.js';

/**
 * Property-based fuzzing (fast-check) of every endpoint: protocol, metadata, registration,
 * hosted forms with a live session and CSRF token, account pages and the JSON API. Each
 * request is a well-formed one with hostile changes: wrong types, huge and empty values,
 * unicode edge cases, duplicated parameters, broken encodings, wrong content types, SQL and
 * HTML payloads. It passes when no answer is a 5xx, Latch logs no error and leaves no
 * unhandled rejection, it still answers afterwards, and no rejected request (4xx, or a
 * redirect carrying an error) changed the database — compared table by table (a digest of
 * every row) before and after each request.
 *
 * LATCH_FUZZ_RUNS sets the requests per endpoint (default 8, about two minutes per database);
 * LATCH_FUZZ_SEED replays a run.
 */
const RUNS = Number(process.env.LATCH_FUZZ_RUNS ?? 8);
const SEED = process.env.LATCH_FUZZ_SEED ? Number(process.env.LATCH_FUZZ_SEED) : undefined;

// every table but the throttle counters, which failed attempts are meant to move
const TABLES = [
  'accounts', 'api_keys', 'clients', 'consents', 'email_tokens', 'invitations', 'keys', 'memberships', 'mfa_pending_sign_ins',
  'mfa_recovery_codes', 'mfa_totp_factors', 'oidc_payloads', 'organizations', 'resource_servers', 'webauthn_challenges', 'webauthn_credentials',
];

// A browser session's anti-CSRF secret for the device form (`state`) is renewed by
// oidc-provider on every render of that form, error pages included, and saving it moves the
// session's expiry: that is the form working, not the request changing anything.
const ROW_TEXT: Record<string, string> = {
  // a client's or an API key's last use is noted off the request path, in a batch up to a
  // second later (lib/db/use-marks.ts): a mark that lands now belongs to an earlier, accepted request
  clients: "(to_jsonb(x) - 'last_used_at')::text",
  api_keys: "(to_jsonb(x) - 'last_used_at')::text",
  oidc_payloads: "(x.model, x.id, x.grant_id, x.client_id, x.user_code, x.uid, x.consumed_at, case when x.model = 'Session' then x.payload - 'state' - 'exp' else x.payload end, case when x.model = 'Session' then null else x.expires_at end)::text",
};

async function digest(knex: Knex, mayRevoke: string[] = []): Promise<Record<string, string>> {
  const sql = TABLES.map((t) => {
    const row = ROW_TEXT[t] ?? 'x::text';
    const where = t === 'oidc_payloads' && mayRevoke.length ? ` where x.model not in (${mayRevoke.map(() => '?').join(', ')})` : '';
    return `select '${t}' as t, md5(coalesce(string_agg(md5(${row}), ',' order by md5(${row})), '')) as d from ${t} x${where}`;
  }).join(' union all ');
  const result = await knex.raw(sql, mayRevoke);
  const rows = (result.rows ?? result) as Array<{ t: string; d: string }>;
  return Object.fromEntries(rows.map((r) => [r.t, r.d]));
}

const changedTables = (a: Record<string, string>, b: Record<string, string>) => TABLES.filter((t) => a[t] !== b[t]);

function clientAddress(): string {
  if (crypto.randomInt(12) === 0) return ['garbage', '<script>', '::1, 10.0.0.1, ""', '999.1.1.1', ''][crypto.randomInt(5)]!;
  return `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;
}

describe('fuzz: hostile requests to every endpoint', function () {
  this.timeout(300_000);
  let latch: TestLatch;
  let errorLines: string[];
  let world: FuzzWorld;
  let baseline: Record<string, string>;
  let tried = 0;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    process.on('unhandledRejection', onUnhandled);
    ({ latch, errorLines } = await startFuzzLatch());
    world = await buildWorld(latch);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    console.log(`      fuzz: ${tried} hostile requests tried (${RUNS} per endpoint)`);
    await latch?.close();
  });

  async function fuzz(target: FuzzTarget) {
    let prepared: Prepared = target.prepare ? await target.prepare(world) : {};
    const keys = Object.keys(target.base(world, prepared));
    baseline = await digest(latch.container.knex, target.mayRevoke);
    await fc.assert(
      fc.asyncProperty(mutationOf(keys, !!target.hasPathParam), async (m) => {
        const base = target.base(world, prepared);
        const segment = m.pathValue === null ? undefined : `${percent(m.pathValue)}${m.encoding === 'form-broken' ? '%zz' : ''}`;
        let path = target.path(world, prepared, segment);
        const headers: Record<string, string> = { 'x-forwarded-for': clientAddress(), ...target.headers?.(world, prepared) };
        let body: Buffer | undefined;
        if (target.in === 'query') {
          path += `${path.includes('?') ? '&' : '?'}${encodeQuery(mutatedPairs(base, m), m.encoding)}`;
        } else {
          const encoded = encodeBody(base, m);
          body = encoded.body;
          if (encoded.contentType !== undefined) headers['content-type'] = encoded.contentType;
        }
        const browser = prepared.browser ?? new BrowserSession(latch.url);
        const res = await browser.send(target.method, path, { body, headers });
        tried += 1;
        const described = () => `${target.method} ${path.slice(0, 160)} [${m.encoding}; ${headers['content-type'] ?? 'no content type'}; ${body?.length ?? 0} bytes] → ${res.status} ${res.text.slice(0, 200)}`;
        expect(res.status, `a 5xx: ${described()}`).to.be.below(500);
        const after = await digest(latch.container.knex, target.mayRevoke);
        const rejected = res.status >= 400 || /[?&#]error=/.test(res.location ?? '');
        if (rejected) expect(changedTables(baseline, after), `a rejected request changed the database: ${described()}`).to.deep.equal([]);
        baseline = after;
        // an accepted request may have used the session up (a finished interaction)
        if (!rejected && target.prepare) {
          prepared = await target.prepare(world);
          baseline = await digest(latch.container.knex, target.mayRevoke);
        }
      }),
      { numRuns: RUNS, endOnFailure: true, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    expect(errorLines.map((l) => l.slice(0, 500)), `error lines in Latch's log after ${target.name}`).to.deep.equal([]);
    expect(unhandled.map(String), `unhandled rejections after ${target.name}`).to.deep.equal([]);
  }

  for (const target of PAGE_AND_PROTOCOL_TARGETS) {
    it(target.name, () => fuzz(target));
  }

  it('the JSON API: every operation in /api/v1/openapi.json', async () => {
    const targets = await apiTargets(world);
    expect(targets.length).to.be.greaterThan(20);
    for (const target of targets) await fuzz(target);
  });

  // found by the fuzzer (seed 2117954504): a NUL in a path parameter reached PostgreSQL as text
  it('a NUL character in a path parameter is a 400, not a 500', async () => {
    const calls: Array<[string, string]> = [['POST', '/api/v1/orgs/a%00b/api-keys'], ['GET', '/api/v1/orgs/a%00b'], ['DELETE', '/api/v1/api-keys/a%00b']];
    for (const [method, path] of calls) {
      const res = await fetch(`${latch.url}${path}`, { method, headers: { authorization: `Bearer ${world.tokens.access_token}`, 'content-type': 'application/json' }, body: method === 'POST' ? '{"name":"k","scopes":["api:read"]}' : undefined });
      expect(res.status, path).to.be.within(400, 404);
      expect(((await res.json()) as { error: string }).error, path).to.be.a('string');
    }
  });

  it('Latch still answers, and the person can still use the API', async () => {
    expect((await fetch(`${latch.url}/healthz`)).status).to.equal(200);
    const whoami = await fetch(`${latch.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${world.tokens.access_token}` } });
    expect(whoami.status).to.equal(200);
    expect(((await whoami.json()) as { sub: string }).sub).to.equal(world.person.id);
  });
});
