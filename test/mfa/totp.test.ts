import { expect } from 'chai';
import { generate } from 'otplib';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { awayFromStepBoundary, totpCode } from '../support/totp.js';

/**
 * Authenticator apps (SECURITY.md D.28, D.26) against a real Latch over HTTP: the factor is
 * active only after a valid code, codes are checked ±1 step and once each, wrong codes count in
 * the password throttle, the secret is sealed at rest, and amr/acr say what happened.
 */
describe('TOTP second factor', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch.close());

  /** Enrols an app through the service; confirmed with a code of ten minutes ago. */
  async function withAuthenticatorApp(email: string) {
    const account = await createAccount(latch, email);
    const { secret } = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);
    const past = Date.now() - 10 * 60_000;
    const code = await generate({ secret, epoch: Math.floor(past / 1000) });
    expect(await latch.container.mfa.totp.confirmEnrolment(account.id, code, past)).to.equal(true);
    return { ...account, secret };
  }

  async function afterPassword(account: { email: string; password: string }, extra: Record<string, string> = {}) {
    const pages = new HostedPages(latch);
    const flow = await app.start(pages, extra);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    return { pages, flow };
  }

  async function consentIfAsked(pages: HostedPages) {
    if (!pages.callback && pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
  }

  it('activates an authenticator app only after a valid code from it', async () => {
    const account = await createAccount(latch, 'pending-app@example.com');
    const { secret } = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);

    // not confirmed yet: the password alone signs in, nothing asks for a code
    let { pages, flow } = await afterPassword(account);
    await consentIfAsked(pages);
    const passwordOnly = await flow.redeem();
    expect(passwordOnly.claims.amr).to.deep.equal(['pwd']);
    expect(passwordOnly.claims.acr).to.equal(ACR.password);

    expect(await latch.container.mfa.totp.confirmEnrolment(account.id, '000000')).to.equal(false);
    expect(await latch.container.mfa.totp.isEnrolled(account.id)).to.equal(false);
    await awayFromStepBoundary();
    expect(await latch.container.mfa.totp.confirmEnrolment(account.id, await totpCode(secret))).to.equal(true);
    expect(await latch.container.mfa.totp.isEnrolled(account.id)).to.equal(true);

    ({ pages, flow } = await afterPassword(account));
    expect(pages.path).to.equal(`/interaction/${pages.uid}/mfa`);
    expect(pages.text).to.include('<label for="code">Code</label>');
    expect(pages.callback).to.equal(undefined);
  });

  it('signs in with password then a code; the ID token says amr [pwd, otp, mfa] and the mfa acr', async () => {
    const account = await withAuthenticatorApp('ada-totp@example.com');
    const { pages, flow } = await afterPassword(account);
    expect(pages.status).to.equal(200);
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(account.secret) });
    await consentIfAsked(pages);
    const { claims } = await flow.redeem();
    expect(claims.sub).to.equal(account.id);
    expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims.acr).to.equal(ACR.multiFactor);
  });

  it('refuses a code that was already used (replay), even in a new sign-in', async () => {
    const account = await withAuthenticatorApp('replay@example.com');
    await awayFromStepBoundary(8);
    const code = await totpCode(account.secret);

    const first = await afterPassword(account);
    await first.pages.submit(`/interaction/${first.pages.uid}/mfa/totp`, { code });
    await consentIfAsked(first.pages);
    expect((await first.flow.redeem()).claims.amr).to.include('otp');

    const second = await afterPassword(account);
    await second.pages.submit(`/interaction/${second.pages.uid}/mfa/totp`, { code });
    expect(second.pages.status).to.equal(400);
    expect(second.pages.text).to.include('That code is not valid');
    expect(second.pages.callback).to.equal(undefined);
  });

  it('accepts one racing use of a code, not two', async () => {
    const account = await withAuthenticatorApp('race@example.com');
    const flows = await Promise.all([afterPassword(account), afterPassword(account), afterPassword(account), afterPassword(account)]);
    await awayFromStepBoundary();
    const code = await totpCode(account.secret);
    await Promise.all(flows.map(({ pages }) => pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code })));
    const succeeded = flows.filter(({ pages }) => pages.callback || pages.text.includes('/consent"'));
    expect(succeeded).to.have.length(1);
    expect(flows.filter(({ pages }) => pages.status === 400)).to.have.length(3);
  });

  for (const offset of [-1, 1]) {
    it(`accepts the code of the step ${offset > 0 ? 'after' : 'before'} now (clock drift of one step)`, async () => {
      const account = await withAuthenticatorApp(`drift${offset}@example.com`);
      const { pages } = await afterPassword(account);
      await awayFromStepBoundary();
      await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(account.secret, offset) });
      await consentIfAsked(pages);
      expect(pages.callback).to.be.a('string');
    });
  }

  it('refuses codes two steps away in either direction', async () => {
    const account = await withAuthenticatorApp('drift2@example.com');
    const { pages } = await afterPassword(account);
    for (const offset of [-2, 2]) {
      await awayFromStepBoundary();
      await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(account.secret, offset) });
      expect(pages.status, `offset ${offset}`).to.equal(400);
    }
    // the right code still works afterwards
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(account.secret) });
    await consentIfAsked(pages);
    expect(pages.callback).to.be.a('string');
  });

  it('counts wrong codes in the same per-account throttle as wrong passwords', async () => {
    const account = await withAuthenticatorApp('guesser-target@example.com');
    const { pages } = await afterPassword(account);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: String(100000 + i) });
      statuses.push(pages.status);
    }
    // five free failures, then waits: the sixth failure starts a delay, the seventh try meets it
    expect(statuses.slice(0, 6)).to.deep.equal([400, 400, 400, 400, 400, 400]);
    expect(statuses[6]).to.equal(429);
    expect(pages.text).to.include('Too many attempts');

    // the same family: the password form for this account now waits too
    const again = new HostedPages(latch);
    await app.start(again);
    await again.submit(`/interaction/${again.uid}/login`, { email: account.email, password: account.password });
    expect(again.status).to.equal(429);

    // and a correct code is not accepted while the account must wait
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(account.secret) });
    expect(pages.status).to.equal(429);
  });

  it('a correct password does not reset the count of wrong codes', async () => {
    const account = await withAuthenticatorApp('reset-trick@example.com');
    for (let round = 0; round < 2; round += 1) {
      const { pages } = await afterPassword(account);
      for (let i = 0; i < 3; i += 1) await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: String(200000 + round * 10 + i) });
      expect(pages.status).to.equal(400);
    }
    // 6 wrong codes across two password sign-ins: the next code attempt must wait
    const { pages } = await afterPassword(account);
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(account.secret) });
    expect(pages.status).to.equal(429);
  });

  it('stores the secret sealed with LATCH_SECRET, never in clear', async () => {
    const account = await withAuthenticatorApp('sealed@example.com');
    const row = await latch.container.knex('mfa_totp_factors').where({ account_id: account.id, confirmed: true }).first();
    expect(row.secret_sealed).to.match(/^v1\./);
    expect(row.secret_sealed).not.to.include(account.secret);
    const decoded = row.secret_sealed.split('.').map((part: string) => Buffer.from(part, 'base64url').toString('latin1')).join('');
    expect(decoded).not.to.include(account.secret);
    expect(latch.container.sealer.open(row.secret_sealed, `mfa-totp:${row.id}`)).to.equal(account.secret);
    // sealed for this factor only: the same ciphertext does not open as another row's secret
    expect(() => latch.container.sealer.open(row.secret_sealed, 'mfa-totp:another-id')).to.throw();
  });
});
