import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { startCallbackServer } from '../support/callback-server.js';
import { client, discover } from '../support/oauth.js';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { startGithubStandIn, startUpstreamOp, type TestGithub, type TestOp } from '../support/upstream.js';

/**
 * Upstream sign-in in Chromium: the person presses "Continue with Google" (a second, real
 * oidc-provider behind GOOGLE_ISSUER) or "Continue with GitHub" (a stand-in behind
 * GITHUB_BASE_URL), comes back, allows the app, and the app (openid-client) gets its tokens.
 */
describe('upstream sign-in in Chromium', function () {
  let browser: Browser;
  let latch: TestLatch;
  let op: TestOp;
  let github: TestGithub;
  let callback: { url: string; close(): Promise<void> };
  let app: client.Configuration;
  let redirectUri: string;

  before(async function () {
    requireBrowserOrSkip(this);
    const port = await freePort();
    op = await startUpstreamOp([{ client_id: 'latch-google', client_secret: 'google-secret-0123456789', redirect_uris: [`http://localhost:${port}/upstream/google/callback`] }]);
    github = await startGithubStandIn({ clientId: 'gh-client', clientSecret: 'gh-secret-0123456789' });
    callback = await startCallbackServer();
    latch = await startLatch({
      PORT: String(port),
      GOOGLE_CLIENT_ID: 'latch-google',
      GOOGLE_CLIENT_SECRET: 'google-secret-0123456789',
      GOOGLE_ISSUER: op.issuer,
      GITHUB_CLIENT_ID: 'gh-client',
      GITHUB_CLIENT_SECRET: 'gh-secret-0123456789',
      GITHUB_BASE_URL: github.baseUrl,
      LATCH_UPSTREAM_PRIVATE_HOSTS: '127.0.0.1',
    });
    redirectUri = `${callback.url}/cb`;
    const { clientId } = await latch.container.clients.create({ name: 'Notes App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code'] });
    app = await discover(latch.issuer, clientId);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await latch?.close();
    await op?.close();
    await github?.close();
    await callback?.close();
  });

  async function signInThrough(button: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: redirectUri,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    await page.goto(url.href);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: button }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    const tokens = await client.authorizationCodeGrant(app, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    return { context, page, claims: tokens.claims()! };
  }

  it('signs up with "Continue with Google", and the account page lists Google as linked', async () => {
    op.person = { sub: 'browser-google-1', email: 'grace@example.com', email_verified: true, name: 'Grace' };
    const { context, page, claims } = await signInThrough('Continue with Google');
    expect(claims.amr).to.deep.equal(['fed']);
    expect(await latch.container.accounts.findById(claims.sub)).to.include({ email: 'grace@example.com', emailVerified: true });

    await page.goto(`${latch.url}/account`);
    await page.getByRole('heading', { name: 'Sign-in providers' }).waitFor();
    const section = await page.locator('section[aria-labelledby="providers-h"]').innerText();
    expect(section).to.include('Google').and.include('linked as grace@example.com');
    // the only way in cannot be unlinked
    await page.getByRole('button', { name: 'Unlink Google' }).click();
    expect(await page.locator('main').innerText()).to.include('only way to sign in');
    await context.close();
  });

  it('signs up with "Continue with GitHub"', async () => {
    github.user = { id: 77, login: 'hopper', name: 'Grace Hopper', emails: [{ email: 'hopper@example.com', primary: true, verified: true }] };
    const { context, claims } = await signInThrough('Continue with GitHub');
    expect(await latch.container.accounts.findById(claims.sub)).to.include({ email: 'hopper@example.com', name: 'Grace Hopper' });
    await context.close();
  });
});
