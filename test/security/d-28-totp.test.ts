import { expect } from 'chai';
import { generate, ScureBase32Plugin } from 'otplib';
import { ConfigError, loadConfig } from '../../lib/config/config.js';
import { createSealer } from '../../lib/crypto/seal.js';
import { createAccount, testApp, type HostedPages } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { afterPassword, consentIfAsked, enrolAuthenticatorApp, signedIn, type TestApp } from '../support/second-factor.js';
import { awayFromStepBoundary } from '../support/totp.js';

/**
 * SECURITY.md D.28 against a real Latch over HTTP and the rows it writes. Codes are made for an
 * explicit time step (otplib's `epoch`), never by waiting for the clock to move; before each
 * check the test only makes sure it is not in the last seconds of a step, so the server judges
 * the code in the step the test computed it for.
 */
const PERIOD = 30;
const stepNow = () => Math.floor(Date.now() / 1000 / PERIOD);
const codeAt = (secret: string, step: number) => generate({ secret, epoch: step * PERIOD });

/** The key's bytes, decoded by the same base32 codec otplib reads it with. */
const base32 = new ScureBase32Plugin();
const base32Bytes = (text: string) => Buffer.from(base32.decode(text));

describe('SECURITY D.28 — TOTP: secret from a CSPRNG, encrypted at rest, ±1 step, each step accepted once per user', function () {
  let latch: TestLatch;
  let app: TestApp;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch?.close());

  let people = 0;
  const newPerson = () => createAccount(latch, `totp-${++people}@example.com`);

  /**
   * An account whose authenticator app was confirmed ten minutes ago (so no step near now is
   * spent yet), now at the code step of a new sign-in.
   */
  async function enrolledAndAtCodeStep() {
    const person = await newPerson();
    const { secret } = await latch.container.mfa.totp.beginEnrolment(person.id, person.email);
    const past = Date.now() - 10 * 60_000;
    expect(await latch.container.mfa.totp.confirmEnrolment(person.id, await generate({ secret, epoch: Math.floor(past / 1000) }), past)).to.equal(true);
    return { person, secret, ...(await atCodeStep(person)) };
  }

  async function atCodeStep(person: { email: string; password: string }) {
    const signIn = await afterPassword(latch, app, person, { prompt: 'login' });
    expect(signIn.pages.path).to.equal(`/interaction/${signIn.uid}/mfa`);
    return signIn;
  }

  /**
   * Submits the code of `step + offset` where `step` is the current step, and checks that the
   * server's clock was still in that step when it answered.
   */
  async function submitOffset(pages: HostedPages, secret: string, offset: number) {
    await awayFromStepBoundary(6);
    const step = stepNow();
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await codeAt(secret, step + offset) });
    expect(stepNow(), 'the time step changed while the code was checked').to.equal(step);
    return step + offset;
  }

  const factorRow = async (accountId: string) => latch.container.knex('mfa_totp_factors').where({ account_id: accountId, confirmed: true }).first();

  async function expectSignedInWithCode(signIn: Awaited<ReturnType<typeof atCodeStep>>, label: string) {
    expect(signedIn(signIn.pages), `${label}: ${signIn.pages.status} ${signIn.pages.text.slice(0, 200)}`).to.equal(true);
    await consentIfAsked(signIn.pages);
    expect((await signIn.flow.redeem()).claims.amr, label).to.deep.equal(['pwd', 'otp', 'mfa']);
  }

  function expectCodeRefused(pages: HostedPages, label: string) {
    expect(pages.status, label).to.equal(400);
    expect(pages.text, label).to.include('That code is not valid');
    expect(pages.callback, label).to.equal(undefined);
  }

  it("stores the secret encrypted: not in the row in any encoding; it opens only with the server's LATCH_SECRET, and only for its own factor", async () => {
    const person = await newPerson();
    const { secret } = await enrolAuthenticatorApp(latch, app, person);
    const row = await factorRow(person.id);
    const raw = base32Bytes(secret);
    const dump = JSON.stringify(row);
    for (const form of [secret, secret.toLowerCase(), raw.toString('hex'), raw.toString('base64'), raw.toString('base64url')]) expect(dump).not.to.include(form);
    // v1.<iv>.<ciphertext>.<tag>: none of the parts decodes to the secret either
    const parts = String(row.secret_sealed).split('.');
    expect(parts[0]).to.equal('v1');
    expect(parts).to.have.length(4);
    for (const part of parts.slice(1)) {
      const bytes = Buffer.from(part, 'base64url');
      expect(bytes.includes(raw)).to.equal(false);
      expect(bytes.toString('latin1')).not.to.include(secret);
    }
    // a sealer made from the server's key opens it; another key or another factor's context does not
    expect(createSealer(latch.env.LATCH_SECRET).open(row.secret_sealed, `mfa-totp:${row.id}`)).to.equal(secret);
    expect(() => createSealer('another-secret-that-is-long-enough-0123456789').open(row.secret_sealed, `mfa-totp:${row.id}`)).to.throw(/cannot decrypt/);
    expect(() => createSealer(latch.env.LATCH_SECRET).open(row.secret_sealed, 'mfa-totp:00000000-0000-0000-0000-000000000000')).to.throw(/cannot decrypt/);
  });

  it('a production server does not start without LATCH_SECRET, so secrets are never stored unencrypted there', () => {
    const env = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', DATABASE_URL: 'postgres://db.example.com/latch' };
    expect(() => loadConfig(env)).to.throw(ConfigError, /LATCH_SECRET/);
    expect(loadConfig({ ...env, LATCH_SECRET: latch.env.LATCH_SECRET }).secret).to.equal(latch.env.LATCH_SECRET);
  });

  it('two enrolments get different 160-bit secrets; forty more are all distinct with about half their bits set', async () => {
    const [a, b] = [await newPerson(), await newPerson()];
    const first = await enrolAuthenticatorApp(latch, app, a);
    const second = await enrolAuthenticatorApp(latch, app, b);
    expect(first.secret).not.to.equal(second.secret);
    for (const { secret } of [first, second]) expect(base32Bytes(secret)).to.have.length(20);
    expect((await factorRow(a.id)).secret_sealed).not.to.equal((await factorRow(b.id)).secret_sealed);

    const secrets: string[] = [];
    for (let i = 0; i < 40; i += 1) secrets.push((await latch.container.mfa.totp.beginEnrolment((await newPerson()).id, 'sample')).secret);
    expect(new Set(secrets).size).to.equal(secrets.length);
    const bits = secrets.flatMap((s) => [...base32Bytes(s)].map((byte) => byte.toString(2).padStart(8, '0'))).join('');
    expect(bits).to.have.length(40 * 160);
    // 6400 fair bits: ones within ±5 % of half is more than 8 standard deviations
    const ones = [...bits].filter((bit) => bit === '1').length / bits.length;
    expect(ones).to.be.within(0.45, 0.55);
  });

  it('accepts the codes of steps −1, 0 and +1 (each in its own sign-in)', async () => {
    const { person, secret, ...signIn } = await enrolledAndAtCodeStep();
    const minusOne = await submitOffset(signIn.pages, secret, -1);
    await expectSignedInWithCode(signIn, 'step −1');
    const current = await atCodeStep(person);
    await submitOffset(current.pages, secret, 0);
    await expectSignedInWithCode(current, 'step 0');
    const next = await atCodeStep(person);
    const plusOne = await submitOffset(next.pages, secret, +1);
    await expectSignedInWithCode(next, 'step +1');
    expect(plusOne).to.be.greaterThan(minusOne);
    expect(Number((await factorRow(person.id)).last_used_step)).to.equal(plusOne);
  });

  it('refuses the codes of steps −2 and +2 (and further); the current code then works in the same sign-in', async () => {
    const { person, secret, ...signIn } = await enrolledAndAtCodeStep();
    const lastUsed = (await factorRow(person.id)).last_used_step;
    for (const offset of [-2, +2, -3, +3]) {
      await submitOffset(signIn.pages, secret, offset);
      expectCodeRefused(signIn.pages, `step ${offset}`);
    }
    expect((await factorRow(person.id)).last_used_step).to.equal(lastUsed);
    await submitOffset(signIn.pages, secret, 0);
    await expectSignedInWithCode(signIn, 'step 0 after the refusals');
  });

  it('refuses a just-used code in a second sign-in while it is still inside the ±1 window; the next step’s code is accepted there', async () => {
    const { person, secret, ...first } = await enrolledAndAtCodeStep();
    const used = await submitOffset(first.pages, secret, 0);
    await expectSignedInWithCode(first, 'first use');
    const code = await codeAt(secret, used);

    const second = await atCodeStep(person);
    await second.pages.submit(`/interaction/${second.uid}/mfa/totp`, { code });
    expect(stepNow() - used, 'the code is still within its window').to.be.at.most(1);
    expectCodeRefused(second.pages, 'replayed code');

    // control: this sign-in is fine, only that code was spent
    await awayFromStepBoundary(6);
    await second.pages.submit(`/interaction/${second.uid}/mfa/totp`, { code: await codeAt(secret, Math.max(stepNow(), used) + 1) });
    await expectSignedInWithCode(second, 'next code');
  });

  it('ten sign-ins racing with the same code: exactly one succeeds; twenty checks of one code at once in the service: one passes', async () => {
    const { person, secret, ...firstSignIn } = await enrolledAndAtCodeStep();
    const signIns = [firstSignIn, ...(await Promise.all(Array.from({ length: 9 }, () => atCodeStep(person))))];
    await awayFromStepBoundary(6);
    const step = stepNow();
    const code = await codeAt(secret, step);
    await Promise.all(signIns.map(({ pages, uid }) => pages.submit(`/interaction/${uid}/mfa/totp`, { code })));
    expect(stepNow()).to.equal(step);
    const winners = signIns.filter(({ pages }) => signedIn(pages));
    expect(winners, signIns.map(({ pages }) => pages.status).join(',')).to.have.length(1);
    // the losers' failures count towards the account's throttle, so the last of them may be told to wait instead
    for (const { pages } of signIns.filter((s) => !winners.includes(s))) {
      if (pages.status === 429) expect(pages.text).to.include('Too many attempts');
      else expectCodeRefused(pages, 'racing loser');
    }
    await expectSignedInWithCode(winners[0]!, 'the winner');

    // the same at the service, where twenty checks of one code start in the same instant
    await awayFromStepBoundary(6);
    const next = await codeAt(secret, stepNow() + 1);
    const results = await Promise.all(Array.from({ length: 20 }, () => latch.container.mfa.totp.verify(person.id, next)));
    expect(results.filter(Boolean)).to.have.length(1);
  });
});
