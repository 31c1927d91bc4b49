import crypto from 'node:crypto';
import { expect } from 'chai';
import { generate } from 'otplib';
import { RECOVERY_CODES } from '../../lib/mfa/recovery-codes.service.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { afterPassword, consentIfAsked, enrolAuthenticatorApp, signedIn, type TestApp } from '../support/second-factor.js';
import { awayFromStepBoundary } from '../support/totp.js';

/**
 * SECURITY.md D.29 against a real Latch over HTTP and the rows it writes. The codes under test
 * are the ones the enrolment page shows a person; the sample for the randomness checks comes
 * from the same generator.
 */
const CODE_SHAPE = /^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}){3}$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SECURITY D.29 — recovery codes: CSPRNG, hashed, single-use, consumed atomically, counted by the throttle', function () {
  let latch: TestLatch;
  let app: TestApp;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch?.close());

  let people = 0;
  /** An account that enrolled an authenticator app over HTTP, with the recovery codes it was shown. */
  async function enrolled() {
    const person = await createAccount(latch, `recovery-${++people}@example.com`);
    return { person, ...(await enrolAuthenticatorApp(latch, app, person)) };
  }

  /** A new sign-in, past the password, at the recovery-code form. */
  async function atRecoveryStep(person: { email: string; password: string }) {
    const signIn = await afterPassword(latch, app, person, { prompt: 'login' });
    await signIn.pages.get(`/interaction/${signIn.uid}/mfa?method=recovery`);
    expect(signIn.pages.text).to.include('<label for="recovery_code">Recovery code</label>');
    return signIn;
  }

  const rowsOf = (accountId: string) => latch.container.knex('mfa_recovery_codes').where({ account_id: accountId });
  const unused = async (accountId: string) => (await rowsOf(accountId)).filter((r) => r.used_at === null).length;

  async function expectSignedInWithRecoveryCode(signIn: Awaited<ReturnType<typeof atRecoveryStep>>) {
    expect(signedIn(signIn.pages), `${signIn.pages.status} ${signIn.pages.text.slice(0, 200)}`).to.equal(true);
    await consentIfAsked(signIn.pages);
    expect((await signIn.flow.redeem()).claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
  }

  function expectCodeRefused(pages: HostedPages, label = '') {
    expect(pages.status, label).to.equal(400);
    expect(pages.text, label).to.include('That code is not valid');
    expect(pages.callback, label).to.equal(undefined);
  }

  it('stores only salted hashes: no code in the table in any spelling; each hash is 256 bits and is not the bare SHA-256 of the code', async () => {
    const { person, recoveryCodes } = await enrolled();
    const rows = await rowsOf(person.id);
    expect(rows).to.have.length(10);
    const dump = JSON.stringify(rows);
    for (const code of recoveryCodes) {
      const bare = code.replace(/-/g, '');
      for (const form of [code, bare, code.toLowerCase(), bare.toLowerCase()]) expect(dump).not.to.include(form);
      for (const text of [code, bare]) {
        const digest = crypto.createHash('sha256').update(text).digest();
        for (const encoded of [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')]) expect(dump).not.to.include(encoded);
      }
    }
    expect(new Set(rows.map((r) => r.code_hash)).size).to.equal(10);
    for (const r of rows) expect(Buffer.from(r.code_hash, 'base64url')).to.have.length(32);
  });

  it('codes are distinct and unpredictable: 16 characters of a 30-letter alphabet (≥ 78 bits), no repeats or shared halves in 200, letters evenly used', async () => {
    const { person, recoveryCodes } = await enrolled();
    for (const code of recoveryCodes) expect(code).to.match(CODE_SHAPE);
    expect(new Set(recoveryCodes).size).to.equal(10);
    expect(16 * Math.log2(RECOVERY_CODES.alphabet.length)).to.be.at.least(78);

    const sample: string[] = [];
    for (let i = 0; i < 20; i += 1) sample.push(...(await latch.container.mfa.recoveryCodes.regenerate(person.id)));
    const bare = sample.map((c) => c.replace(/-/g, ''));
    expect(new Set(bare).size).to.equal(200);
    expect(new Set(bare.map((c) => c.slice(0, 8))).size, 'first halves').to.equal(200);
    expect(new Set(bare.map((c) => c.slice(8))).size, 'second halves').to.equal(200);
    // 3200 letters over 30: each is expected ~107 times (σ ≈ 10); a skewed or partial generator shows here
    const counts = new Map<string, number>();
    for (const letter of bare.join('')) counts.set(letter, (counts.get(letter) ?? 0) + 1);
    expect(counts.size).to.equal(30);
    for (const [letter, n] of counts) expect(n, letter).to.be.within(50, 170);
  });

  it('a code works once: the second sign-in with it is refused, and another code still works', async () => {
    const { person, recoveryCodes } = await enrolled();
    const first = await atRecoveryStep(person);
    // typed as people do: lower case, spaces for dashes
    await first.pages.submit(`/interaction/${first.uid}/mfa/recovery`, { code: recoveryCodes[2]!.toLowerCase().replace(/-/g, ' ') });
    await expectSignedInWithRecoveryCode(first);
    expect(await unused(person.id)).to.equal(9);

    const second = await atRecoveryStep(person);
    await second.pages.submit(`/interaction/${second.uid}/mfa/recovery`, { code: recoveryCodes[2]! });
    expectCodeRefused(second.pages, 'reused code');
    expect(await unused(person.id)).to.equal(9);
    await second.pages.submit(`/interaction/${second.uid}/mfa/recovery`, { code: recoveryCodes[3]! });
    await expectSignedInWithRecoveryCode(second);
    expect(await unused(person.id)).to.equal(8);
  });

  it('fifteen sign-ins racing with one code: exactly one succeeds and one row is spent; twenty spends at once in the service: one succeeds', async () => {
    const { person, recoveryCodes } = await enrolled();
    const signIns = await Promise.all(Array.from({ length: 15 }, () => atRecoveryStep(person)));
    await Promise.all(signIns.map(({ pages, uid }) => pages.submit(`/interaction/${uid}/mfa/recovery`, { code: recoveryCodes[0]! })));
    const winners = signIns.filter(({ pages }) => signedIn(pages));
    expect(winners, signIns.map(({ pages }) => pages.status).join(',')).to.have.length(1);
    // the losers' failures count towards the account's throttle, so the last of them may be told to wait instead
    for (const { pages } of signIns.filter((s) => !winners.includes(s))) {
      if (pages.status === 429) expect(pages.text).to.include('Too many attempts');
      else expectCodeRefused(pages, 'racing loser');
    }
    await expectSignedInWithRecoveryCode(winners[0]!);
    expect((await rowsOf(person.id)).filter((r) => r.used_at !== null)).to.have.length(1);

    const results = await Promise.all(Array.from({ length: 20 }, () => latch.container.mfa.recoveryCodes.consume(person.id, recoveryCodes[1]!)));
    expect(results.filter(Boolean)).to.have.length(1);
    expect(await unused(person.id)).to.equal(8);
  });

  it('wrong recovery codes count in one throttle with wrong passwords: after the sixth failure even the right code, password or app code waits, and nothing is spent', async function () {
    this.timeout(60_000);
    const { person, secret, recoveryCodes } = await enrolled();
    const key = `acct-fail:${person.email}`;
    const failures = async () => Number((await latch.container.knex('rate_limits').where({ key }).first())?.points ?? 0);
    const signIn = await atRecoveryStep(person);
    const { pages, uid } = signIn;

    for (let i = 0; i < 3; i += 1) {
      const browser = new HostedPages(latch);
      await app.start(browser);
      await browser.submit(`/interaction/${browser.uid}/login`, { email: person.email, password: `not the password ${i}` });
      expect(browser.status).to.equal(400);
    }
    expect(await failures()).to.equal(3);
    for (let i = 0; i < 2; i += 1) {
      await pages.submit(`/interaction/${uid}/mfa/recovery`, { code: `2345-6789-ABCD-EF${'GH'[i]}Z` });
      expectCodeRefused(pages, `wrong code ${i + 1}`);
    }
    expect(await failures(), 'wrong codes and wrong passwords share one counter').to.equal(5);

    // ready before the sixth failure, so the right answers follow it at once
    const passwordBrowser = new HostedPages(latch);
    await app.start(passwordBrowser);
    await awayFromStepBoundary(6);
    const appCode = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }); // a step enrolment did not spend
    await pages.submit(`/interaction/${uid}/mfa/recovery`, { code: '2345-6789-ABCD-EFJZ' });
    expectCodeRefused(pages, 'sixth failure');
    const csrf = pages.csrf;
    const [byCode, byPassword, byApp] = await Promise.all([
      pages.agent.post(`/interaction/${uid}/mfa/recovery`).type('form').send({ _csrf: csrf, code: recoveryCodes[0]! }),
      passwordBrowser.agent.post(`/interaction/${passwordBrowser.uid}/login`).type('form').send({ _csrf: passwordBrowser.csrf, email: person.email, password: person.password }),
      pages.agent.post(`/interaction/${uid}/mfa/totp`).type('form').send({ _csrf: csrf, code: appCode }),
    ]);
    for (const [label, res] of [['recovery code', byCode], ['password', byPassword], ['app code', byApp]] as const) {
      expect(res.status, label).to.equal(429);
      expect(Number(res.headers['retry-after']), label).to.be.within(1, 2);
      expect(res.text, label).to.include('Too many attempts');
    }
    expect(await unused(person.id), 'the right code was not spent while waiting').to.equal(10);
    expect(await failures(), 'a refused wait is not another failure').to.equal(6);

    // soft: once the wait is over, the right recovery code signs in
    await sleep(Number(byCode.headers['retry-after']) * 1000 + 300);
    await pages.submit(`/interaction/${uid}/mfa/recovery`, { code: recoveryCodes[0]! });
    await expectSignedInWithRecoveryCode(signIn);
  });
});
