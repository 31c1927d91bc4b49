import { expect } from 'chai';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { HostedPages, testApp } from '../support/hosted-pages.js';
import { continueWith, startUpstreamOp, type TestOp } from '../support/upstream.js';

/**
 * SECURITY.md D.32 — no automatic account linking by e-mail unless both the upstream claim and
 * the local address are verified. The upstream is a real oidc-provider (a generic OpenID
 * provider of Latch's); whoever controls it can claim any address, verified or not.
 */
describe('SECURITY D.32 — upstream sign-in never takes over an account by e-mail', function () {
  let latch: TestLatch;
  let op: TestOp;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async function () {
    const port = await freePort();
    op = await startUpstreamOp([{ client_id: 'latch', client_secret: 'upstream-secret-0123456789', redirect_uris: [`http://localhost:${port}/upstream/corp/callback`] }]);
    latch = await startLatch({
      PORT: String(port),
      LATCH_UPSTREAM_CORP_ISSUER: op.issuer,
      LATCH_UPSTREAM_CORP_CLIENT_ID: 'latch',
      LATCH_UPSTREAM_CORP_CLIENT_SECRET: 'upstream-secret-0123456789',
      LATCH_UPSTREAM_PRIVATE_HOSTS: '127.0.0.1',
    });
    app = await testApp(latch);
  });

  after(async function () {
    await latch?.close();
    await op?.close();
  });

  async function localAccount(email: string, verified: boolean) {
    const { account } = await latch.container.accounts.signUp({ email, password: 'a long enough password 9' }, { ip: `203.0.113.${Math.floor(Math.random() * 200) + 1}` });
    if (verified) await latch.container.knex('accounts').where({ id: account.id }).update({ email_verified: true });
    return account;
  }

  async function upstreamSignIn(person: { sub: string; email: string; email_verified: boolean }) {
    op.person = person;
    const pages = new HostedPages(latch);
    const flow = await app.start(pages);
    await continueWith(pages, latch, 'corp');
    return { pages, flow };
  }

  const linkedTo = async (accountId: string) => (await latch.container.knex('upstream_identities').where({ account_id: accountId })).length;

  it('pre-registered victim@x (unverified here), attacker signs in upstream as a verified victim@x: no link, no sign-in', async function () {
    const victim = await localAccount('victim@example.com', false);
    const { pages } = await upstreamSignIn({ sub: 'attacker-1', email: 'victim@example.com', email_verified: true });
    expect(pages.status).to.equal(409);
    expect(pages.text).to.include('Sign in to your account first');
    expect(pages.callback).to.equal(undefined);
    expect(await linkedTo(victim.id)).to.equal(0);
    expect(await latch.container.knex('upstream_identities').where({ subject: 'attacker-1' })).to.have.length(0);
    expect((await latch.container.accounts.findById(victim.id))!.emailVerified).to.equal(false);
  });

  it('a verified local address and an upstream address the provider does not call verified: no link', async function () {
    const owner = await localAccount('owner@example.com', true);
    for (const claim of [false, undefined]) {
      const { pages } = await upstreamSignIn({ sub: `attacker-${claim}`, email: 'owner@example.com', email_verified: claim as boolean });
      expect(pages.status).to.equal(409);
      expect(pages.callback).to.equal(undefined);
    }
    expect(await linkedTo(owner.id)).to.equal(0);
  });

  it('links automatically only when both are verified', async function () {
    const owner = await localAccount('verified-both@example.com', true);
    const { pages, flow } = await upstreamSignIn({ sub: 'owner-upstream', email: 'VERIFIED-BOTH@example.com', email_verified: true });
    if (!pages.callback && pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    const { claims } = await flow.redeem();
    expect(claims.sub).to.equal(owner.id);
    expect(await linkedTo(owner.id)).to.equal(1);
  });
});
