import { expect } from 'chai';
import request from 'supertest';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { HostedPages, testApp } from '../support/hosted-pages.js';
import { signIn, testApp as apiTestApp } from '../support/people.js';
import { continueWith, startGithubStandIn, startUpstreamOp, throughUpstream, type TestGithub, type TestOp, type UpstreamPerson } from '../support/upstream.js';
import { totpCode, awayFromStepBoundary } from '../support/totp.js';
import { latchCli } from '../support/cli.js';

/**
 * Sign-in through upstream providers, end to end over HTTP: a second, real oidc-provider is
 * the upstream OpenID provider (as Google through GOOGLE_ISSUER, and as a generic provider
 * "acme"), and a stand-in of GitHub's OAuth + REST API is reached through GITHUB_BASE_URL.
 * The app is a real openid-client relying party of Latch.
 */
describe('upstream sign-in (GitHub, Google, generic OpenID providers)', function () {
  let latch: TestLatch;
  let op: TestOp;
  let github: TestGithub;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async function () {
    const port = await freePort();
    const latchIssuer = `http://localhost:${port}`;
    op = await startUpstreamOp([
      { client_id: 'latch-google', client_secret: 'google-secret-0123456789', redirect_uris: [`${latchIssuer}/upstream/google/callback`] },
      { client_id: 'latch-acme', client_secret: 'acme-secret-0123456789', redirect_uris: [`${latchIssuer}/upstream/acme/callback`] },
      { client_id: 'latch-corp', client_secret: 'corp-secret-0123456789', redirect_uris: [`${latchIssuer}/upstream/corp/callback`] },
    ]);
    github = await startGithubStandIn({ clientId: 'gh-client', clientSecret: 'gh-secret-0123456789' });
    latch = await startLatch({
      PORT: String(port),
      GOOGLE_CLIENT_ID: 'latch-google',
      GOOGLE_CLIENT_SECRET: 'google-secret-0123456789',
      GOOGLE_ISSUER: op.issuer,
      GITHUB_CLIENT_ID: 'gh-client',
      GITHUB_CLIENT_SECRET: 'gh-secret-0123456789',
      GITHUB_BASE_URL: github.baseUrl,
      LATCH_UPSTREAM_ACME_ISSUER: op.issuer,
      LATCH_UPSTREAM_ACME_CLIENT_ID: 'latch-acme',
      LATCH_UPSTREAM_ACME_CLIENT_SECRET: 'acme-secret-0123456789',
      LATCH_UPSTREAM_ACME_NAME: 'Acme SSO',
      // nothing listens on port 9 of 127.0.0.1: an issuer that cannot be reached
      LATCH_UPSTREAM_DOWN_ISSUER: 'http://127.0.0.1:9',
      LATCH_UPSTREAM_DOWN_CLIENT_ID: 'x',
      LATCH_UPSTREAM_DOWN_CLIENT_SECRET: 'y',
      LATCH_UPSTREAM_PRIVATE_HOSTS: '127.0.0.1',
    });
    app = await testApp(latch);
  });

  after(async function () {
    await latch?.close();
    await op?.close();
    await github?.close();
  });

  /** From the app's authorization request through the provider; the pages end wherever Latch sent them. */
  async function viaProvider(providerId: string, person?: UpstreamPerson, extra: Record<string, string> = {}) {
    if (person) op.person = person;
    const pages = new HostedPages(latch);
    const flow = await app.start(pages, extra);
    await continueWith(pages, latch, providerId);
    return { pages, flow };
  }

  /** The whole way to the app's tokens (consenting when asked). */
  async function signInVia(providerId: string, person?: UpstreamPerson) {
    const { pages, flow } = await viaProvider(providerId, person);
    if (!pages.callback && pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    const { claims } = await flow.redeem();
    return { pages, claims };
  }

  const identities = (accountId: string) => latch.container.knex('upstream_identities').where({ account_id: accountId });

  it('shows "Continue with …" on the sign-in and sign-up pages only for enabled providers', async function () {
    const pages = new HostedPages(latch);
    await app.start(pages);
    for (const label of ['Continue with Google', 'Continue with GitHub', 'Continue with Acme SSO']) expect(pages.text).to.include(label);
    expect(pages.text).not.to.include('Continue with Microsoft'); // MICROSOFT_CLIENT_ID/_SECRET unset
    await pages.get(`/interaction/${pages.uid}/signup`);
    expect(pages.status).to.equal(200);
    expect(pages.text).to.include('Continue with Google').and.include('Continue with GitHub');
  });

  it('creates the account (and its personal organization) on the first sign-in, then finds it by subject, not e-mail', async function () {
    const { claims } = await signInVia('google', { sub: 'google-new-1', email: 'newcomer@example.com', email_verified: true, name: 'New Comer' });
    const account = await latch.container.accounts.findById(claims.sub);
    expect(account).to.include({ email: 'newcomer@example.com', emailVerified: true, name: 'New Comer' });
    expect(claims.amr).to.deep.equal(['fed']);
    const orgs = await latch.container.orgs.list(claims.sub);
    expect(orgs.filter((o) => o.personal)).to.have.length(1);
    expect(await identities(claims.sub)).to.have.length(1);

    // the provider now reports another address for the same subject: still the same account
    const again = await signInVia('google', { sub: 'google-new-1', email: 'renamed@example.com', email_verified: true });
    expect(again.claims.sub).to.equal(claims.sub);
    // and a different subject with the first address is not this account
    const { pages } = await viaProvider('google', { sub: 'google-other', email: 'newcomer@example.com', email_verified: true });
    // (both addresses verified, so it would be linked — but the account has its Google identity)
    expect(pages.status).to.equal(409);
    expect(pages.text).to.include('already linked to another account of this provider');
    expect(await identities(claims.sub)).to.have.length(1);
  });

  // the linking rules (SECURITY.md D.32) are in test/security/d-32-upstream-account-linking.test.ts

  it('applies the MFA policy after an upstream sign-in as after a password', async function () {
    const { claims } = await signInVia('acme', { sub: 'acme-mfa', email: 'mfa-upstream@example.com', email_verified: true });
    const { secret } = await latch.container.mfa.totp.beginEnrolment(claims.sub, 'mfa-upstream@example.com');
    // confirmed with a code of a past step, so the current one is still unused
    await latch.container.mfa.totp.confirmEnrolment(claims.sub, await totpCode(secret, -4), Date.now() - 120_000);

    await awayFromStepBoundary();
    const { pages, flow } = await viaProvider('acme');
    expect(pages.path).to.match(/\/interaction\/[\w-]+\/mfa$/);
    expect(pages.callback).to.equal(undefined);
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(secret) });
    if (!pages.callback && pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    const { claims: second } = await flow.redeem();
    expect(second.sub).to.equal(claims.sub);
    expect(second.amr).to.deep.equal(['fed', 'otp', 'mfa']);
  });

  it('shows the provider’s error (error= on the callback) as a page, not a 500', async function () {
    op.deny = true;
    try {
      const { pages } = await viaProvider('google', { sub: 'google-deny', email: 'deny@example.com', email_verified: true });
      expect(pages.status).to.equal(400);
      expect(pages.text).to.include('Google did not sign you in (access_denied: The person said no)');
      expect(pages.text).to.include('Back to sign-in');
    } finally {
      op.deny = false;
    }
  });

  it('refuses an ID token whose signature does not verify, with a page', async function () {
    op.tamperIdToken = true;
    try {
      const { pages } = await viaProvider('google', { sub: 'google-tampered', email: 'tampered@example.com', email_verified: true });
      expect(pages.status).to.equal(502);
      expect(pages.text).to.include('answer could not be verified');
      expect(await latch.container.accounts.findByEmail('tampered@example.com')).to.equal(undefined);
    } finally {
      op.tamperIdToken = false;
    }
  });

  it('shows an unreachable issuer as a page, not a 500', async function () {
    const pages = new HostedPages(latch);
    await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/upstream/down`, {});
    expect(pages.status).to.equal(502);
    expect(pages.text).to.include('could not be reached');
  });

  it('refuses a tampered state, a replayed callback and a callback in another browser', async function () {
    op.person = { sub: 'google-state', email: 'state@example.com', email_verified: true };
    const pages = new HostedPages(latch);
    await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/upstream/google`, {});
    // walk the upstream leg by hand to hold the callback URL
    const upstream = request.agent(op.issuer);
    let location = pages.callback!;
    while (!location.startsWith(latch.url)) location = (await upstream.get(new URL(location, op.issuer).pathname + new URL(location, op.issuer).search)).headers.location!;
    const callback = new URL(location);

    const tampered = new URL(callback);
    tampered.searchParams.set('state', `${callback.searchParams.get('state')}x`);
    await pages.get(tampered.pathname + tampered.search);
    expect(pages.status).to.equal(400);
    expect(pages.text).to.include('started in another browser or window');

    // another browser (no cookie of this sign-in) with the genuine callback
    const other = new HostedPages(latch);
    await other.get(callback.pathname + callback.search);
    expect(other.status).to.equal(400);

    // the genuine callback in the right browser works once…
    await pages.get(callback.pathname + callback.search);
    expect(pages.status).to.equal(200);
    expect(pages.text).to.include('/consent"');
    // …and not twice
    await pages.get(callback.pathname + callback.search);
    expect(pages.status).to.equal(400);
  });

  it('answers hostile callbacks with a 4xx page', async function () {
    const agent = request.agent(latch.url);
    const hostile = [
      '/upstream/google/callback',
      '/upstream/google/callback?state=&code=',
      `/upstream/google/callback?state=${'a'.repeat(5000)}&code=x`,
      '/upstream/google/callback?state[]=a&state[]=b&code=x',
      '/upstream/google/callback?state=%00&code=%00',
      '/upstream/google/callback?error=%3Cscript%3Ealert(1)%3C/script%3E&state=x',
      `/upstream/google/callback?${'x='.repeat(6000)}`,
      '/upstream/nope/callback?state=a&code=b',
      '/upstream/..%2F..%2Fetc/callback?state=a',
      '/upstream/GOOGLE/callback?state=a',
    ];
    for (const path of hostile) {
      const res = await agent.get(path);
      expect(res.status, path).to.be.within(400, 499);
      expect(res.text, path).not.to.include('<script>alert(1)');
    }
    // and starting with a provider that does not exist
    const pages = new HostedPages(latch);
    await app.start(pages);
    for (const id of ['nope', '..', 'a'.repeat(100), 'GOOGLE', '%00']) {
      const res = await pages.agent.post(`/interaction/${pages.uid}/upstream/${id}`).type('form').send({ _csrf: pages.csrf });
      expect(res.status, id).to.be.within(400, 499);
    }
    // without the CSRF token
    const res = await pages.agent.post(`/interaction/${pages.uid}/upstream/google`).type('form').send({});
    expect(res.status).to.equal(403);
    // an oversized form
    const big = await pages.agent.post(`/interaction/${pages.uid}/upstream/google`).type('form').send({ _csrf: pages.csrf, filler: 'x'.repeat(3 * 1024 * 1024) });
    expect(big.status).to.be.within(400, 499);
    // back at the interaction with no finished upstream sign-in behind it
    const done = await pages.agent.get(`/interaction/${pages.uid}/upstream/done`);
    expect(done.status).to.equal(400);
    expect(done.text).to.include('Start again');
  });

  it('refuses a disabled account found through its provider', async function () {
    const { claims } = await signInVia('acme', { sub: 'acme-disabled', email: 'disabled-upstream@example.com', email_verified: true });
    await latch.container.knex('accounts').where({ id: claims.sub }).update({ disabled: true });
    const { pages } = await viaProvider('acme');
    expect(pages.status).to.equal(403);
    expect(pages.text).to.include('cannot sign in');
    expect(pages.callback).to.equal(undefined);
  });

  describe('GitHub (through GITHUB_BASE_URL, as GitHub Enterprise Server)', function () {
    it('creates the account from /user and the verified primary address of /user/emails', async function () {
      github.user = { id: 4242, login: 'octo', name: 'Octo Cat', emails: [{ email: 'octo-other@example.com', primary: false, verified: true }, { email: 'octo@example.com', primary: true, verified: true }] };
      const { claims } = await signInVia('github');
      const account = await latch.container.accounts.findById(claims.sub);
      expect(account).to.include({ email: 'octo@example.com', emailVerified: true, name: 'Octo Cat' });
      expect((await identities(claims.sub))[0]).to.include({ provider_id: 'github', subject: '4242' });
      // a new login and primary address later: the same account, by GitHub's numeric id
      github.user = { ...github.user, login: 'octo2', emails: [{ email: 'octo-new@example.com', primary: true, verified: true }] };
      expect((await signInVia('github')).claims.sub).to.equal(claims.sub);
    });

    it('does not create an account without a verified primary address', async function () {
      github.user = { id: 5151, login: 'unverified', emails: [{ email: 'unverified-gh@example.com', primary: true, verified: false }] };
      const pages = new HostedPages(latch);
      await app.start(pages);
      await continueWith(pages, latch, 'github');
      expect(pages.status).to.equal(400);
      expect(pages.text).to.include('GitHub did not share an e-mail address');
      expect(await latch.container.accounts.findByEmail('unverified-gh@example.com')).to.equal(undefined);
    });
  });

  describe('/account and /api/v1/providers', function () {
    let api: Awaited<ReturnType<typeof apiTestApp>>;
    before(async function () {
      api = await apiTestApp(latch, 'Account tests');
    });

    it('lists the enabled providers, and which the caller is linked to', async function () {
      const person = { email: 'api-providers@example.com', password: 'a long enough password 3' };
      const { account } = await latch.container.accounts.signUp(person, { ip: '203.0.113.12' });
      const { tokens } = await signIn(latch, { id: account.id, ...person }, api);
      const res = await request(latch.url).get('/api/v1/providers').set('Authorization', `Bearer ${tokens.access_token}`).expect(200);
      expect(res.body.map((p: { id: string }) => p.id).sort()).to.deep.equal(['acme', 'down', 'github', 'google']);
      expect(res.body.find((p: { id: string }) => p.id === 'github')).to.deep.equal({ id: 'github', name: 'GitHub', type: 'github', linked: false });
      expect(JSON.stringify(res.body)).not.to.include('secret');
      await request(latch.url).get('/api/v1/providers').expect(401);
    });

    it('links from /account after signing in, lists it, and unlinks while a password remains', async function () {
      const person = { email: 'linker@example.com', password: 'a long enough password 4' };
      const { account } = await latch.container.accounts.signUp(person, { ip: '203.0.113.13' });
      const { agent } = await signIn(latch, { id: account.id, ...person }, api);
      const pageBefore = await agent.get('/account').expect(200);
      expect(pageBefore.text).to.include('Link Google');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(pageBefore.text)![1]!;

      // the provider's address is not verified, and differs: linking is the person's explicit choice
      op.person = { sub: 'google-linker', email: 'someone-else@example.com', email_verified: false };
      const start = await agent.post('/account/upstream/google/link').type('form').send({ _csrf: csrf }).expect(303);
      const pages = new HostedPages(latch);
      Object.assign(pages, { agent });
      await throughUpstream(pages, latch, start.headers.location!);
      expect(pages.path).to.equal('/account?done=provider-linked');
      expect(pages.text).to.include('Unlink Google').and.include('someone-else@example.com');

      // now that identity signs in to this account
      const { claims } = await signInVia('google', { sub: 'google-linker', email: 'someone-else@example.com', email_verified: false });
      expect(claims.sub).to.equal(account.id);

      const unlinked = await agent.post('/account/upstream/google/unlink').type('form').send({ _csrf: csrf }).expect(303);
      expect(unlinked.headers.location).to.equal('/account?done=provider-unlinked');
      expect(await identities(account.id)).to.have.length(0);
    });

    it('refuses to unlink the only way to sign in, and answers hostile link/unlink requests with a 4xx', async function () {
      const { claims } = await signInVia('google', { sub: 'google-only', email: 'only-google@example.com', email_verified: true });
      // sign in to /account through Google alone
      const pages = new HostedPages(latch);
      await pages.get('/account');
      await continueWith(pages, latch, 'google');
      if (pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
      expect(pages.path).to.match(/^\/account/);
      const csrf = pages.csrf;

      const refused = await pages.agent.post('/account/upstream/google/unlink').type('form').send({ _csrf: csrf });
      expect(refused.status).to.equal(409);
      expect(refused.text).to.include('only way to sign in');
      expect(await identities(claims.sub)).to.have.length(1);

      for (const id of ['nope', 'github', '..%2F..', 'x'.repeat(300), '%00']) {
        const res = await pages.agent.post(`/account/upstream/${id}/unlink`).type('form').send({ _csrf: csrf });
        expect(res.status, id).to.be.within(400, 499);
        const link = await pages.agent.post(`/account/upstream/${id === 'github' ? 'nope' : id}/link`).type('form').send({ _csrf: csrf });
        expect(link.status, id).to.be.within(400, 499);
      }
      await pages.agent.post('/account/upstream/google/unlink').type('form').send({}).expect(403);
      await request(latch.url).post('/account/upstream/google/unlink').type('form').send({}).expect((res) => expect(res.status).to.be.within(400, 499));
      // the account's own identity is still linked after all of that
      expect(await identities(claims.sub)).to.have.length(1);
    });
  });

  describe('latch upstream add|list|remove', function () {
    // each command is a fresh node process (a few seconds each under load)
    this.timeout(300_000);

    it('adds an OpenID provider by issuer (discovery read from it, secret sealed), lists it without the secret, removes it; exit codes', async function () {
      const added = await latchCli(['upstream', 'add', 'corp', '--issuer', op.issuer, '--client-id', 'latch-corp', '--client-secret', 'corp-secret-0123456789', '--name', 'Corp Login', '--json'], latch.env);
      expect(added.code, added.stderr).to.equal(0);
      expect(JSON.parse(added.stdout)).to.deep.equal({ id: 'corp', name: 'Corp Login', type: 'oidc', issuer: op.issuer, clientId: 'latch-corp', source: 'database' });
      const stored = await latch.container.knex('upstream_providers').where({ id: 'corp' }).first();
      expect(stored.client_secret_sealed).to.match(/^v1\./).and.not.include('corp-secret');

      const { claims } = await signInVia('corp', { sub: 'corp-user', email: 'corp-user@example.com', email_verified: true });
      expect((await identities(claims.sub))[0]).to.include({ provider_id: 'corp', subject: 'corp-user' });

      const listed = await latchCli(['upstream', 'list', '--json'], latch.env);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(JSON.parse(listed.stdout).map((p: { id: string }) => p.id)).to.deep.equal(['github', 'google', 'microsoft', 'acme', 'down', 'corp'].filter((id) => id !== 'microsoft'));
      expect(listed.stdout).not.to.include('secret-0123456789');

      const bad = await latchCli(['upstream', 'add', 'Bad Id', '--issuer', 'ftp://example.com', '--client-id', 'x', '--client-secret', 'y'], latch.env);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.include('id must be');

      const removed = await latchCli(['upstream', 'remove', 'corp', '--json'], latch.env);
      expect(removed.code, removed.stderr).to.equal(0);
      expect(await identities(claims.sub)).to.have.length(0);
      const again = await latchCli(['upstream', 'remove', 'corp'], latch.env);
      expect(again.code).to.equal(1);
    });

    it('latch doctor checks each provider’s discovery and names the one that fails', async function () {
      const doctor = await latchCli(['doctor', '--json'], latch.env);
      expect(doctor.code).to.equal(1);
      const upstreamCheck = JSON.parse(doctor.stdout).checks.find((c: { check: string }) => c.check === 'upstream');
      expect(upstreamCheck.ok).to.equal(false);
      expect(upstreamCheck.detail).to.include('google ok').and.include('github ok').and.include('down:');
      expect(doctor.stdout).not.to.include('secret-0123456789');
    });
  });
});
