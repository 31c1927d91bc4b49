import { expect } from 'chai';
import { generate } from 'otplib';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** Recovery codes (SECURITY.md D.29): ten, hashed, single-use, spent atomically, throttled. */
describe('recovery codes', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch.close());

  async function accountWithCodes(email: string) {
    const account = await createAccount(latch, email);
    const { secret } = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);
    const past = Date.now() - 10 * 60_000;
    await latch.container.mfa.totp.confirmEnrolment(account.id, await generate({ secret, epoch: Math.floor(past / 1000) }), past);
    const codes = await latch.container.mfa.recoveryCodes.regenerate(account.id);
    return { ...account, codes };
  }

  async function atSecondFactor(account: { email: string; password: string }) {
    const pages = new HostedPages(latch);
    const flow = await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    await pages.get(`/interaction/${pages.uid}/mfa?method=recovery`);
    expect(pages.text).to.include('<label for="recovery_code">Recovery code</label>');
    return { pages, flow };
  }

  it('makes ten distinct codes and stores only their hashes', async () => {
    const account = await accountWithCodes('codes-stored@example.com');
    expect(account.codes).to.have.length(10);
    expect(new Set(account.codes).size).to.equal(10);
    for (const code of account.codes) expect(code).to.match(/^[2-9A-HJKMNP-TV-Z]{4}(-[2-9A-HJKMNP-TV-Z]{4}){3}$/);
    const rows = await latch.container.knex('mfa_recovery_codes').where({ account_id: account.id });
    expect(rows).to.have.length(10);
    const stored = JSON.stringify(rows);
    for (const code of account.codes) {
      expect(stored).not.to.include(code);
      expect(stored).not.to.include(code.replace(/-/g, ''));
    }
  });

  it('signs in with a recovery code once; the same code is refused the second time', async () => {
    const account = await accountWithCodes('codes-once@example.com');
    // typed as people do: lower case, spaces instead of dashes
    const typed = account.codes[3]!.toLowerCase().replace(/-/g, ' ');

    const first = await atSecondFactor(account);
    await first.pages.submit(`/interaction/${first.pages.uid}/mfa/recovery`, { code: typed });
    if (!first.pages.callback) await first.pages.submit(`/interaction/${first.pages.uid}/consent`, { decision: 'allow' });
    const { claims } = await first.flow.redeem();
    expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims.acr).to.equal(ACR.multiFactor);
    expect(await latch.container.mfa.recoveryCodes.remaining(account.id)).to.equal(9);

    const second = await atSecondFactor(account);
    await second.pages.submit(`/interaction/${second.pages.uid}/mfa/recovery`, { code: account.codes[3]! });
    expect(second.pages.status).to.equal(400);
    expect(second.pages.text).to.include('That code is not valid');
    expect(second.pages.callback).to.equal(undefined);

    // another unused code still works
    await second.pages.submit(`/interaction/${second.pages.uid}/mfa/recovery`, { code: account.codes[4]! });
    expect(second.pages.status === 200 || !!second.pages.callback).to.equal(true);
    expect(second.pages.text.includes('That code is not valid')).to.equal(false);
  });

  it('lets one of many concurrent sign-ins with the same code through, and only one', async () => {
    const account = await accountWithCodes('codes-race@example.com');
    const flows = await Promise.all(Array.from({ length: 6 }, () => atSecondFactor(account)));
    const code = account.codes[0]!;
    await Promise.all(flows.map(({ pages }) => pages.submit(`/interaction/${pages.uid}/mfa/recovery`, { code })));
    const through = flows.filter(({ pages }) => pages.callback || pages.text.includes('/consent"'));
    expect(through).to.have.length(1);
    expect(flows.filter(({ pages }) => pages.status === 400)).to.have.length(5);
    const usedRows = await latch.container.knex('mfa_recovery_codes').where({ account_id: account.id }).whereNotNull('used_at');
    expect(usedRows).to.have.length(1);
  });

  it('spends a code exactly once when twenty callers race for it at the database', async () => {
    const account = await accountWithCodes('codes-race-db@example.com');
    const results = await Promise.all(Array.from({ length: 20 }, () => latch.container.mfa.recoveryCodes.consume(account.id, account.codes[9]!)));
    expect(results.filter(Boolean)).to.have.length(1);
  });

  it("does not accept another account's code", async () => {
    const alice = await accountWithCodes('codes-alice@example.com');
    const bob = await accountWithCodes('codes-bob@example.com');
    const { pages } = await atSecondFactor(bob);
    await pages.submit(`/interaction/${pages.uid}/mfa/recovery`, { code: alice.codes[0]! });
    expect(pages.status).to.equal(400);
    expect(await latch.container.mfa.recoveryCodes.remaining(alice.id)).to.equal(10);
  });

  it('counts wrong recovery codes in the sign-in throttle', async () => {
    const account = await accountWithCodes('codes-guess@example.com');
    const { pages } = await atSecondFactor(account);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      await pages.submit(`/interaction/${pages.uid}/mfa/recovery`, { code: `AAAA-BBBB-CCCC-DD${String(i).padStart(2, '2')}` });
      statuses.push(pages.status);
    }
    expect(statuses.slice(0, 6)).to.deep.equal([400, 400, 400, 400, 400, 400]);
    expect(statuses[6]).to.equal(429);
    // a right code must wait too, and is not spent by the refused attempt
    await pages.submit(`/interaction/${pages.uid}/mfa/recovery`, { code: account.codes[1]! });
    expect(pages.status).to.equal(429);
    expect(await latch.container.mfa.recoveryCodes.remaining(account.id)).to.equal(10);
  });

  it('regenerating replaces every old code', async () => {
    const account = await accountWithCodes('codes-regen@example.com');
    const fresh = await latch.container.mfa.recoveryCodes.regenerate(account.id);
    expect(await latch.container.mfa.recoveryCodes.consume(account.id, account.codes[0]!)).to.equal(false);
    expect(await latch.container.mfa.recoveryCodes.consume(account.id, fresh[0]!)).to.equal(true);
  });
});
