import { expect } from 'chai';
import * as jose from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { startCallbackServer } from '../support/callback-server.js';
import { client, discover } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';

/**
 * The hosted pages end to end: openid-client plays the app, Chromium plays the person,
 * a real SMTP server receives the mail.
 */
describe('hosted sign-in flows in Chromium', function () {
  let browser: Browser;
  let latch: TestLatch;
  let mailbox: TestMailbox;
  let callback: { url: string; close(): Promise<void> };
  let app: client.Configuration;
  let redirectUri: string;
  const email = 'ada@example.com';
  const password = 'correct horse battery staple';

  before(async function () {
    requireBrowserOrSkip(this);
    mailbox = await startMailbox();
    callback = await startCallbackServer();
    latch = await startLatch({ SMTP_URL: mailbox.url, MAIL_FROM: 'Latch <latch@example.com>' });
    redirectUri = `${callback.url}/cb`;
    const { clientId } = await latch.container.clients.create({
      name: 'Notes App',
      public: true,
      redirectUris: [redirectUri],
      postLogoutRedirectUris: [`${callback.url}/signed-out`],
      grantTypes: ['authorization_code', 'refresh_token'],
    });
    app = await discover(latch.issuer, clientId);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await latch?.close();
    await mailbox?.close();
    await callback?.close();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    return { context, page: await context.newPage() };
  }

  async function startAuthorization(page: Page, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: redirectUri,
      scope: 'openid email profile offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      ...extra,
    });
    await page.goto(url.href);
    return { verifier, state };
  }

  async function signIn(page: Page, withPassword = password) {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(withPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  let refreshToken: string;

  it('signs up, consents, and the app gets code, tokens and userinfo; the address is verified by a mailed link', async () => {
    const { page, context } = await newPage();
    const { verifier, state } = await startAuthorization(page);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('main').innerText()).to.include('Notes App');
    await page.getByRole('link', { name: 'Create account' }).click();
    await page.getByLabel('Name').fill('Ada Lovelace');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor();
    const verification = await mailbox.next(email);
    expect(verification.subject).to.equal('Confirm your e-mail address');

    await page.getByRole('link', { name: 'Continue' }).click();
    expect(await page.getByLabel('Email').inputValue()).to.equal(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    const consentText = await page.locator('main').innerText();
    expect(consentText).to.include('Notes App');
    expect(consentText).to.include('See your e-mail address');
    expect(consentText).to.include('Stay connected');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${redirectUri}?**`);

    const tokens = await client.authorizationCodeGrant(app, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims()!;
    expect(claims.email).to.equal(email);
    expect(claims.email_verified).to.equal(false);
    expect(claims.amr).to.deep.equal(['pwd']);
    expect(tokens.refresh_token).to.be.a('string');
    refreshToken = tokens.refresh_token!;

    // the person opens the mailed link, which asks before it changes anything
    await page.goto(mailbox.linkIn(verification, '/verify-email?token='));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'E-mail address confirmed' }).waitFor();

    const userinfo = await client.fetchUserInfo(app, tokens.access_token, claims.sub);
    expect(userinfo).to.include({ sub: claims.sub, email, email_verified: true, name: 'Ada Lovelace' });
    await context.close();
  });

  it('rotates the refresh token; replaying the old one revokes the whole grant', async () => {
    const first = await client.refreshTokenGrant(app, refreshToken);
    expect(first.refresh_token).to.be.a('string').and.not.equal(refreshToken);
    let replay: unknown;
    try {
      await client.refreshTokenGrant(app, refreshToken);
    } catch (err) {
      replay = err;
    }
    expect((replay as { error?: string }).error).to.equal('invalid_grant');
    let afterRevocation: unknown;
    try {
      await client.refreshTokenGrant(app, first.refresh_token!);
    } catch (err) {
      afterRevocation = err;
    }
    expect((afterRevocation as { error?: string }).error).to.equal('invalid_grant');
  });

  it('remembers consent, and RP-initiated logout ends the session', async () => {
    const { page, context } = await newPage();
    let { verifier, state } = await startAuthorization(page, { prompt: 'login' });
    await signIn(page);
    // consent was given before: straight back to the app
    await page.waitForURL(`${redirectUri}?**`);
    const tokens = await client.authorizationCodeGrant(app, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });

    await page.goto(client.buildEndSessionUrl(app, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${callback.url}/signed-out` }).href);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${callback.url}/signed-out**`);

    // signed out: the next authorization request asks for the password again
    ({ verifier, state } = await startAuthorization(page, { prompt: '' }));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await context.close();
  });

  it('device flow: the device polls while the person approves at /device', async () => {
    const tv = await latch.container.clients.create({ name: 'Kitchen TV', public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'] });
    const tvConfig = await discover(latch.issuer, tv.clientId);
    const device = await client.initiateDeviceAuthorization(tvConfig, { scope: 'openid email offline_access' });
    const polling = client.pollDeviceAuthorizationGrant(tvConfig, { ...device, interval: 1 });

    const { page, context } = await newPage();
    await page.goto(`${latch.url}/device`);
    await page.getByLabel('Code').fill(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Authorize this device?' }).waitFor();
    expect(await page.locator('main').innerText()).to.include('Kitchen TV');
    await page.getByRole('button', { name: 'Approve' }).click();
    await signIn(page);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();

    const tokens = await polling;
    expect(tokens.claims()!.email).to.equal(email);

    // the used code cannot be entered again
    await page.goto(`${latch.url}/device`);
    await page.getByLabel('Code').fill(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    expect(await page.getByRole('alert').innerText()).to.include('already been used');
    await context.close();
  });

  it('password reset over SMTP: the link works once, the old password and other sessions stop working', async () => {
    // a session (refresh token) that exists before the reset
    const { page, context } = await newPage();
    // offline_access needs prompt=consent (OpenID Connect Core §11)
    const { verifier, state } = await startAuthorization(page, { prompt: 'login consent' });
    await signIn(page);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${redirectUri}?**`);
    const before = await client.authorizationCodeGrant(app, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    expect(before.refresh_token).to.be.a('string');
    await context.close();

    const { page: p2, context: c2 } = await newPage();
    await p2.goto(`${latch.url}/forgot-password`);
    await p2.getByLabel('Email').fill(email);
    await p2.getByRole('button', { name: 'Continue' }).click();
    await p2.getByRole('heading', { name: 'Check your e-mail' }).waitFor();
    const mail = await mailbox.next(email);
    expect(mail.subject).to.equal('Reset your password');
    const link = mailbox.linkIn(mail, '/reset-password?token=');
    expect(link.startsWith(`${latch.issuer}/reset-password?token=`)).to.equal(true);

    await p2.goto(link);
    await p2.getByLabel('Password', { exact: true }).fill('a brand new passphrase');
    await p2.getByRole('button', { name: 'Continue' }).click();
    await p2.getByRole('heading', { name: 'Password changed' }).waitFor();
    const notice = await mailbox.next(email);
    expect(notice.subject).to.equal('Your password was changed');

    await p2.goto(link);
    await p2.getByRole('heading', { name: 'This link has expired' }).waitFor();

    const introspection = await fetch(`${latch.url}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: before.refresh_token!, client_id: app.clientMetadata().client_id }),
    });
    expect((await introspection.json()).active).to.equal(false);
    let refused: unknown;
    try {
      await client.refreshTokenGrant(app, before.refresh_token!);
    } catch (err) {
      refused = err;
    }
    expect((refused as { error?: string }).error).to.equal('invalid_grant');

    const attempt = await startAuthorization(p2, { prompt: 'login' });
    await signIn(p2);
    expect(await p2.getByRole('alert').innerText()).to.include('do not match');
    await signIn(p2, 'a brand new passphrase');
    await p2.waitForURL(`${redirectUri}?**`);
    const after = await client.authorizationCodeGrant(app, new URL(p2.url()), { pkceCodeVerifier: attempt.verifier, expectedState: attempt.state });
    expect(jose.decodeJwt(after.id_token!).email).to.equal(email);
    await c2.close();
  });
});
