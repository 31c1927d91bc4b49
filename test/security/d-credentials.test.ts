import argon2 from 'argon2';
import { expect } from 'chai';
import request from 'supertest';
import { passwordProblem } from '../../lib/accounts/passwords.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { queriesDuring } from '../support/queries.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';
import { authorize, countRows, csrfFrom, openSignIn, refresh, signUpAccount, tokensFor, PASSWORD, type Agent } from '../support/flow.js';

/** SECURITY.md part D — passwords, enumeration and e-mailed tokens (MFA items come later). */
const redirectUri = 'https://app.example.com/cb';

async function hostedSignUp(latch: TestLatch, clientId: string, fields: Record<string, string>) {
  const agent = request.agent(latch.url);
  const { uid } = await openSignIn(latch, agent, { clientId, redirectUri });
  const form = await agent.get(`/interaction/${uid}/signup`).expect(200);
  const res = await agent.post(`/interaction/${uid}/signup`).type('form').send({ ...fields, _csrf: csrfFrom(form.text) });
  return { res, uid };
}

async function hostedSignIn(latch: TestLatch, clientId: string, email: string, password: string, agent: Agent = request.agent(latch.url)) {
  const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri });
  const res = await agent.post(`/interaction/${uid}/login`).type('form').send({ email, password, _csrf: csrf });
  return { res, uid };
}

/** The algorithm and parameters of a PHC string such as $argon2id$v=19$m=19456,t=2,p=1$salt$hash. */
function phc(hash: string) {
  const match = /^\$([a-z0-9-]+)\$v=(\d+)\$([a-z]=\d+(?:,[a-z]=\d+)*)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
  if (!match) return undefined;
  const params = Object.fromEntries(match[3]!.split(',').map((kv) => [kv[0]!, Number(kv.slice(2))]));
  return { id: match[1], version: Number(match[2]), m: params.m, t: params.t, p: params.p, salt: match[4]!, digest: match[5]! };
}

const storedHash = async (latch: TestLatch, email: string) =>
  (await latch.container.knex('accounts').where({ email_normalized: email.toLowerCase() }).first())?.password_hash as string | undefined;

describe('SECURITY D — credentials', function () {
  let latch: TestLatch;
  let mailbox: TestMailbox;
  let clientId: string;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    mailbox = await startMailbox();
    latch = await startLatch({ SMTP_URL: mailbox.url, MAIL_FROM: 'Latch <latch@example.com>' });
    ({ clientId } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri] }));
  });
  after(async () => {
    await latch?.close();
    await mailbox?.close();
  });

  describe('SECURITY D.24 — argon2id ≥ m=19456,t=2,p=1 as PHC strings; rehash on sign-in; length capped before hashing', () => {
    it('stores an argon2id PHC string with m=19456, t=2, p=1', async () => {
      await signUpAccount(latch, 'hash@example.com');
      const hash = (await storedHash(latch, 'hash@example.com'))!;
      expect(phc(hash), hash).to.deep.include({ id: 'argon2id', version: 19, m: 19456, t: 2, p: 1 });
      expect(Buffer.from(phc(hash)!.salt, 'base64').length).to.be.at.least(16);
      expect(hash).not.to.include(PASSWORD);
      expect(await argon2.verify(hash, PASSWORD)).to.equal(true);
    });

    it('refuses a password over 1024 bytes at sign-up (by bytes, not characters) and creates nothing', async () => {
      for (const password of ['x'.repeat(2000), 'é'.repeat(600)]) {
        const before = await countRows(latch, 'accounts');
        const { res } = await hostedSignUp(latch, clientId, { email: `long${password.length}@example.com`, password });
        expect(res.status).to.equal(400);
        expect(res.text).to.include('Use at most 1024 bytes.');
        expect(await countRows(latch, 'accounts')).to.equal(before);
      }
      expect(passwordProblem('x'.repeat(2000))).to.equal('too_long');
    });

    it('accepts exactly 1024 bytes; the same with more bytes appended does not sign in', async () => {
      const exact = 'k'.repeat(1024);
      await signUpAccount(latch, 'exact@example.com', exact);
      const ok = await hostedSignIn(latch, clientId, 'exact@example.com', exact);
      expect(ok.res.status).to.equal(303);
      const longer = await hostedSignIn(latch, clientId, 'exact@example.com', exact + 'k'.repeat(976));
      expect(longer.res.status).to.equal(400);
      expect(longer.res.text).to.include('do not match an account');
    });

    it('a hash made with weaker parameters is replaced at the next successful sign-in, not at a failed one', async () => {
      const email = 'oldhash@example.com';
      await signUpAccount(latch, email);
      const weak = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
      await latch.container.knex('accounts').where({ email_normalized: email }).update({ password_hash: weak });

      const wrong = await hostedSignIn(latch, clientId, email, 'not the password at all');
      expect(wrong.res.status).to.equal(400);
      expect(await storedHash(latch, email)).to.equal(weak);

      const ok = await hostedSignIn(latch, clientId, email, PASSWORD);
      expect(ok.res.status).to.equal(303);
      const rehashed = (await storedHash(latch, email))!;
      expect(rehashed).not.to.equal(weak);
      expect(phc(weak)).to.deep.include({ m: 4096, t: 1 });
      expect(phc(rehashed), rehashed).to.deep.include({ id: 'argon2id', m: 19456, t: 2, p: 1 });
      expect(await argon2.verify(rehashed, PASSWORD)).to.equal(true);
    });
  });

  describe('SECURITY D.25 — ≥ 8 characters, ≥ 64 allowed, no composition rules, common passwords refused', () => {
    const refused: Array<[string, string, string]> = [
      ['7 characters', 'abcdefg', 'Use at least 8 characters.'],
      ['a common password', 'sunshine', 'That password is too common.'],
      ['the e-mail address itself', 'same@example.com', 'That password is too common.'],
    ];
    for (const [label, password, message] of refused) {
      it(`refuses ${label} and creates no account`, async () => {
        const before = await countRows(latch, 'accounts');
        const email = label.startsWith('the e-mail') ? 'same@example.com' : `refused-${password.length}@example.com`;
        const { res } = await hostedSignUp(latch, clientId, { email, password });
        expect(res.status).to.equal(400);
        expect(res.text).to.include(message);
        expect(await countRows(latch, 'accounts')).to.equal(before);
      });
    }

    it('accepts 8 lower-case letters (no composition rules) and a 100-character passphrase with spaces and Unicode', async () => {
      for (const [email, password] of [
        ['eight@example.com', 'qzvtrplm'],
        ['long@example.com', `${'le cœur a ses raisons que la raison ne connaît point — '.repeat(2)}`.slice(0, 100)],
      ] as const) {
        const { res } = await hostedSignUp(latch, clientId, { email, password });
        expect(res.status, email).to.equal(200);
        expect(res.text).to.include('Check your e-mail');
        expect(await countRows(latch, 'accounts', { email_normalized: email })).to.equal(1);
        expect((await hostedSignIn(latch, clientId, email, password)).res.status).to.equal(303);
      }
    });

    it('the sign-up form itself lets 1024 characters through and imposes no pattern', async () => {
      const agent = request.agent(latch.url);
      const { uid } = await openSignIn(latch, agent, { clientId, redirectUri });
      const form = await agent.get(`/interaction/${uid}/signup`).expect(200);
      const input = /<input[^>]+id="password"[^>]*>/.exec(form.text)![0];
      expect(input).to.include('minlength="8"');
      expect(input).to.include('maxlength="1024"');
      expect(input).not.to.include('pattern=');
    });
  });

  describe('SECURITY D.31 — reset and verification tokens', () => {
    const linkToken = (link: string) => new URL(link).searchParams.get('token')!;

    async function requestReset(email: string, headers: Record<string, string> = {}) {
      const agent = request.agent(latch.url);
      const page = await agent.get('/forgot-password').expect(200);
      return agent.post('/forgot-password').set(headers).type('form').send({ email, _csrf: csrfFrom(page.text) });
    }

    async function resetWith(token: string, password: string, agent: Agent = request.agent(latch.url)) {
      const page = await agent.get('/reset-password').query({ token });
      if (page.status !== 200) return page;
      return agent.post('/reset-password').type('form').send({ token, password, _csrf: csrfFrom(page.text) });
    }

    async function everyStoredValue(): Promise<string> {
      const tables = ['accounts', 'email_tokens', 'oidc_payloads', 'rate_limits', 'consents'];
      const dumps = await Promise.all(tables.map((t) => latch.container.knex(t).select()));
      return JSON.stringify(dumps);
    }

    it('a reset link carries ≥ 128 random bits, is built from ISSUER whatever Host / X-Forwarded-Host say, and is stored only hashed', async () => {
      const email = 'reset1@example.com';
      await signUpAccount(latch, email);
      await mailbox.next(email); // the verification mail
      const res = await requestReset(email, { Host: 'evil.example', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' });
      expect(res.status).to.equal(200);
      expect(res.text).to.include('Check your e-mail');
      const mail = await mailbox.next(email);
      expect(mail.subject).to.equal('Reset your password');
      const link = mailbox.linkIn(mail, '/reset-password?token=');
      expect(link.startsWith(`${latch.issuer}/reset-password?token=`)).to.equal(true);
      expect(`${mail.text}${mail.html || ''}`).not.to.include('evil.example');
      const token = linkToken(link);
      expect(Buffer.from(token, 'base64url').length * 8).to.be.at.least(128);

      const rows = await latch.container.knex('email_tokens').where({ purpose: 'reset-password' });
      expect(rows).to.have.length(1);
      expect(rows[0].token_hash).not.to.equal(token);
      expect(await everyStoredValue()).not.to.include(token);
      // ≤ 10 minutes
      expect(new Date(rows[0].expires_at).getTime() - new Date(rows[0].created_at).getTime()).to.be.at.most(10 * 60_000 + 5_000);
    });

    it('a reset link works once, sets the password, and the owner is told by mail', async () => {
      const email = 'reset2@example.com';
      await signUpAccount(latch, email);
      await mailbox.next(email);
      await requestReset(email);
      const token = linkToken(mailbox.linkIn(await mailbox.next(email), '/reset-password?token='));
      // opening the link twice spends nothing
      expect((await request(latch.url).get('/reset-password').query({ token })).status).to.equal(200);
      const done = await resetWith(token, 'a brand new passphrase');
      expect(done.status).to.equal(200);
      expect(done.text).to.include('Password changed');
      expect((await mailbox.next(email)).subject).to.equal('Your password was changed');

      const again = await resetWith(token, 'the attacker passphrase');
      expect(again.status).to.equal(400);
      expect(again.text).to.include('This link has expired');
      expect((await hostedSignIn(latch, clientId, email, 'the attacker passphrase')).res.status).to.equal(400);
      expect((await hostedSignIn(latch, clientId, email, PASSWORD)).res.status).to.equal(400);
      expect((await hostedSignIn(latch, clientId, email, 'a brand new passphrase')).res.status).to.equal(303);
    });

    it('a newer reset link supersedes an older one', async () => {
      const email = 'reset3@example.com';
      await signUpAccount(latch, email);
      await mailbox.next(email);
      await requestReset(email);
      const older = linkToken(mailbox.linkIn(await mailbox.next(email), '/reset-password?token='));
      await requestReset(email);
      const newer = linkToken(mailbox.linkIn(await mailbox.next(email), '/reset-password?token='));
      expect(newer).not.to.equal(older);
      expect((await request(latch.url).get('/reset-password').query({ token: older })).status).to.equal(400);
      expect((await resetWith(older, 'older link passphrase')).status).to.equal(400);
      expect((await resetWith(newer, 'newer link passphrase')).status).to.equal(200);
    });

    it('a reset ends every session, grant and token of the account and signs nobody in', async () => {
      const email = 'reset4@example.com';
      await signUpAccount(latch, email);
      await mailbox.next(email);
      const browser = request.agent(latch.url);
      const { tokens } = await tokensFor(latch, browser, { clientId, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
      expect(tokens.refresh_token).to.be.a('string');
      const { id: accountId } = (await latch.container.accounts.findByEmail(email))!;
      expect(await countRows(latch, 'oidc_payloads', { model: 'Session', account_id: accountId })).to.equal(1);

      const resetter = request.agent(latch.url);
      await requestReset(email);
      const token = linkToken(mailbox.linkIn(await mailbox.next(email), '/reset-password?token='));
      expect((await resetWith(token, 'after the reset passphrase', resetter)).status).to.equal(200);

      expect(await countRows(latch, 'oidc_payloads', { account_id: accountId })).to.equal(0);
      expect((await refresh(latch, { clientId }, tokens.refresh_token!)).body.error).to.equal('invalid_grant');
      const silent = await authorize(latch, browser, { clientId, redirectUri, params: { prompt: 'none' } });
      expect(silent.location.searchParams.get('error')).to.equal('login_required');
      const resetterSilent = await authorize(latch, resetter, { clientId, redirectUri, params: { prompt: 'none' } });
      expect(resetterSilent.location.searchParams.get('error')).to.equal('login_required');
    });

    it('a verification link: ≥ 128 bits, from ISSUER, stored hashed, ≤ 30 min, confirmed only by POST, once', async () => {
      const email = 'verify@example.com';
      const account = await signUpAccount(latch, email);
      const mail = await mailbox.next(email);
      const link = mailbox.linkIn(mail, '/verify-email?token=');
      expect(link.startsWith(`${latch.issuer}/verify-email?token=`)).to.equal(true);
      const token = linkToken(link);
      expect(Buffer.from(token, 'base64url').length * 8).to.be.at.least(128);
      expect(await everyStoredValue()).not.to.include(token);
      const row = await latch.container.knex('email_tokens').where({ account_id: account.id, purpose: 'verify-email' }).first();
      expect(new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()).to.be.at.most(30 * 60_000 + 5_000);

      const agent = request.agent(latch.url);
      const page = await agent.get('/verify-email').query({ token });
      expect(page.status).to.equal(200);
      expect((await latch.container.accounts.findById(account.id))!.emailVerified).to.equal(false);
      const done = await agent.post('/verify-email').type('form').send({ token, _csrf: csrfFrom(page.text) });
      expect(done.status).to.equal(200);
      expect((await latch.container.accounts.findById(account.id))!.emailVerified).to.equal(true);
      const again = await agent.post('/verify-email').type('form').send({ token, _csrf: csrfFrom(page.text) });
      expect(again.status).to.equal(400);
    });

    it('a password change by reset is refused when the new password breaks the rules, and the link stays usable', async () => {
      const email = 'reset5@example.com';
      await signUpAccount(latch, email);
      await mailbox.next(email);
      await requestReset(email);
      const token = linkToken(mailbox.linkIn(await mailbox.next(email), '/reset-password?token='));
      for (const bad of ['short', 'password', 'y'.repeat(2000)]) {
        const res = await resetWith(token, bad);
        expect(res.status, bad).to.equal(400);
      }
      expect(await argon2.verify((await storedHash(latch, email))!, PASSWORD)).to.equal(true);
      expect((await resetWith(token, 'a fine new passphrase')).status).to.equal(200);
    });
  });
});

describe('SECURITY D.26 — sign-in throttling: soft, exponential, atomic, by the real client IP', function () {
  let latch: TestLatch;
  let clientId: string;
  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    ({ clientId } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri] }));
    await signUpAccount(latch, 'target@example.com');
  });
  after(() => latch.close());

  it("a sign-in reads its counters in one query; a success clears the account's failures, and only those it found", async function () {
    const email = 'clears@example.com';
    await signUpAccount(latch, email);
    const signInWith = async (password: string) => {
      const agent = request.agent(latch.url);
      const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri });
      return agent.post(`/interaction/${uid}/login`).type('form').send({ email, password, _csrf: csrf });
    };
    const counterQueries = async (fn: () => Promise<unknown>) =>
      (await queriesDuring(latch.container.knex, fn)).queries.map((q) => q.sql).filter((sql) => /rate_limits/.test(sql));

    // no failures on record: one read, nothing to clear
    let queries = await counterQueries(async () => expect((await signInWith(PASSWORD)).status).to.equal(303));
    expect(queries).to.have.length(1);
    expect(queries[0]).to.match(/^select/i);

    for (let i = 0; i < 3; i++) expect((await signInWith(`wrong ${i}`)).status).to.equal(400);
    const failures = await latch.container.knex('rate_limits').where({ key: `acct-fail:${email}` }).first();
    expect(Number(failures?.points)).to.equal(3);

    queries = await counterQueries(async () => expect((await signInWith(PASSWORD)).status).to.equal(303));
    // the read, then the delete of what it found
    expect(queries.map((sql) => sql.split(' ')[0]!.toLowerCase())).to.deep.equal(['select', 'delete']);
    expect(await latch.container.knex('rate_limits').where({ key: `acct-fail:${email}` }).first()).to.equal(undefined);
    // the IP's failures are not the account's to clear
    const ipFailures = await latch.container.knex('rate_limits').where('key', 'like', 'ip-fail:%').first();
    expect(Number(ipFailures?.points)).to.be.at.least(3);
  });

  it('soft and exponential: after 5 free failures a short wait (2 s, then 4 s …), after which the right password works', async function () {
    this.timeout(60_000);
    await signUpAccount(latch, 'soft@example.com');
    /** A sign-in page opened ahead, so that posting to it is a single quick request. */
    const prepare = async () => {
      const agent = request.agent(latch.url);
      const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri });
      return (password: string) => agent.post(`/interaction/${uid}/login`).type('form').send({ email: 'soft@example.com', password, _csrf: csrf });
    };
    const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000 + 300));
    for (let i = 0; i < 5; i++) expect((await (await prepare())(`wrong ${i}`)).status, `failure ${i + 1}`).to.equal(400);
    let [sixth, right] = await Promise.all([prepare(), prepare()]);
    expect((await sixth(`wrong 5`)).status, 'failure 6').to.equal(400);
    const first = await right(PASSWORD);
    expect(first.status).to.equal(429);
    const firstWait = Number(first.headers['retry-after']);
    expect(firstWait).to.be.within(1, 2);
    await sleep(firstWait);
    [sixth, right] = await Promise.all([prepare(), prepare()]);
    expect((await sixth('wrong again')).status).to.equal(400);
    const second = await right(PASSWORD);
    expect(second.status).to.equal(429);
    const secondWait = Number(second.headers['retry-after']);
    expect(secondWait).to.be.greaterThan(firstWait).and.at.most(4);
    await sleep(secondWait);
    expect((await (await prepare())(PASSWORD)).status).to.equal(303);
  });

  it('50 concurrent bad passwords: each is counted, then even the right password waits (429 + Retry-After ≤ 15 min); X-Forwarded-For changes nothing', async function () {
    this.timeout(120_000);
    const email = 'target@example.com';
    const agent = request.agent(latch.url);
    const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri });
    // the right-password attempts are ready before the burst, so they follow it at once
    const later = await Promise.all([undefined, '198.51.100.1', '10.0.0.1, 198.51.100.2'].map(async (xff) => {
      const browser = request.agent(latch.url);
      return { xff, browser, ...(await openSignIn(latch, browser, { clientId, redirectUri })) };
    }));
    const burstStart = Date.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        agent.post(`/interaction/${uid}/login`).set('X-Forwarded-For', `203.0.113.${i + 1}`).type('form').send({ email, password: `wrong password ${i}`, _csrf: csrf }),
      ),
    );
    for (const r of results) expect(r.status).to.be.oneOf([400, 429]);
    const failed = results.filter((r) => r.status === 400).length;
    expect(failed).to.be.at.least(6);
    // atomic counting: exactly one count per refused password, however concurrent
    const counter = await latch.container.knex('rate_limits').where({ key: `acct-fail:${email}` }).first();
    expect(Number(counter?.points)).to.equal(failed);
    // a wait of at least 2^(failures-5) seconds was set during the burst
    const block = await latch.container.knex('rate_limits').where({ key: `acct-delay:${email}` }).first();
    expect(Number(block?.expire)).to.be.at.least(burstStart + 2000);
    const blockLeft = Number(block.expire) - Date.now();

    const answers = await Promise.all(later.map(({ xff, browser, uid: u, csrf: c }) => {
      const req = browser.post(`/interaction/${u}/login`).type('form');
      if (xff) req.set('X-Forwarded-For', xff);
      return req.send({ email, password: PASSWORD, _csrf: c });
    }));
    // (on a heavily loaded machine the burst may end with only a few seconds of wait left;
    // the answers are checked while the wait is certainly still running)
    if (blockLeft > 3000) {
      for (const [i, res] of answers.entries()) {
        const label = String(later[i]!.xff);
        expect(res.status, label).to.equal(429);
        expect(Number(res.headers['retry-after']), label).to.be.greaterThan(0).and.at.most(15 * 60);
        expect(res.text, label).to.include('Too many attempts');
        expect(res.headers, label).not.to.have.property('location');
      }
    }
  });
});

describe('SECURITY D.27 — no user enumeration by message, status or timing', function () {
  let latch: TestLatch;
  let clientId: string;
  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    ({ clientId } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri] }));
    await signUpAccount(latch, 'known@example.com');
    await signUpAccount(latch, 'disabled@example.com');
    await latch.container.knex('accounts').where({ email_normalized: 'disabled@example.com' }).update({ disabled: true });
    for (let i = 0; i < 5; i++) await signUpAccount(latch, `timing${i}@example.com`);
  });
  after(() => latch.close());

  /** The page with what legitimately differs (the typed address, the interaction id, the CSRF token) taken out. */
  const normalise = (html: string, ...values: string[]) => {
    let out = html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""').replace(/\/interaction\/[\w-]+/g, '/interaction/UID');
    for (const v of values) out = out.split(v).join('VALUE');
    return out;
  };

  it('sign-in: unknown address, wrong password and disabled account get the same status and page', async () => {
    const known = await hostedSignIn(latch, clientId, 'known@example.com', 'wrong password here');
    const unknown = await hostedSignIn(latch, clientId, 'nobody@example.com', 'wrong password here');
    const disabled = await hostedSignIn(latch, clientId, 'disabled@example.com', PASSWORD);
    expect(known.res.status).to.equal(400);
    expect(unknown.res.status).to.equal(known.res.status);
    expect(disabled.res.status).to.equal(known.res.status);
    const expected = normalise(known.res.text, 'known@example.com');
    expect(normalise(unknown.res.text, 'nobody@example.com')).to.equal(expected);
    expect(normalise(disabled.res.text, 'disabled@example.com')).to.equal(expected);
  });

  it('sign-in: a throttled existing address and a throttled unknown one answer alike', async () => {
    const answers = [];
    for (const email of ['known@example.com', 'ghost@example.com']) {
      let last: request.Response | undefined;
      for (let i = 0; i < 7; i++) last = (await hostedSignIn(latch, clientId, email, `wrong password ${i}`)).res;
      answers.push({ status: last!.status, retry: last!.headers['retry-after'], text: normalise(last!.text, email).replace(/\d+/g, 'N') });
    }
    expect(answers[1]!.status).to.equal(answers[0]!.status);
    expect(answers[1]!.retry === undefined).to.equal(answers[0]!.retry === undefined);
    expect(answers[1]!.text).to.equal(answers[0]!.text);
  });

  it('sign-up: an address that has an account and a new one get the same page', async () => {
    const taken = await hostedSignUp(latch, clientId, { email: 'known@example.com', password: 'some long passphrase' });
    const fresh = await hostedSignUp(latch, clientId, { email: 'newcomer@example.com', password: 'some long passphrase' });
    expect(taken.res.status).to.equal(200);
    expect(fresh.res.status).to.equal(taken.res.status);
    expect(normalise(fresh.res.text, 'newcomer@example.com', encodeURIComponent('newcomer@example.com'))).to.equal(
      normalise(taken.res.text, 'known@example.com', encodeURIComponent('known@example.com')),
    );
    // and the existing account's password was not touched
    expect(await argon2.verify((await storedHash(latch, 'known@example.com'))!, PASSWORD)).to.equal(true);
  });

  it('forgot password: an address with an account and one without get the same page', async () => {
    const answers = [];
    for (const email of ['known@example.com', 'stranger@example.com', 'disabled@example.com']) {
      const agent = request.agent(latch.url);
      const page = await agent.get('/forgot-password');
      const res = await agent.post('/forgot-password').type('form').send({ email, _csrf: csrfFrom(page.text) });
      answers.push({ status: res.status, text: normalise(res.text, email) });
    }
    expect(answers[0]!.status).to.equal(200);
    expect(answers[1]).to.deep.equal(answers[0]);
    expect(answers[2]).to.deep.equal(answers[0]);
  });

  it('sign-in: an unknown address takes about as long as a wrong password (a dummy hash is verified)', async function () {
    this.timeout(120_000);
    async function timed(email: string) {
      const agent = request.agent(latch.url);
      const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri });
      const started = process.hrtime.bigint();
      const res = await agent.post(`/interaction/${uid}/login`).type('form').send({ email, password: 'definitely wrong', _csrf: csrf });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      expect(res.status, email).to.equal(400);
      return ms;
    }
    // warm up both paths (the dummy hash is made on first use)
    await timed('warmup-unknown@example.com');
    await timed('timing0@example.com');
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      wrong.push(await timed(`timing${i}@example.com`));
      unknown.push(await timed(`absent${i}@example.com`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(wrong);
    expect(ratio, `unknown ${unknown.map(Math.round)} ms vs wrong password ${wrong.map(Math.round)} ms`).to.be.at.least(0.4);
  });
});
