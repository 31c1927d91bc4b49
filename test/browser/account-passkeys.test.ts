import { expect } from 'chai';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/**
 * Managing passkeys from /account/security in a real Chromium, with second factors optional
 * (the default): adding one with Chromium's virtual authenticator (CDP WebAuthn domain) after
 * a fresh sign-in, getting the recovery codes that come with a first factor, seeing it listed
 * by name, then signing in to the account pages with that passkey alone, and removing it.
 */
describe('passkeys from /account/security in Chromium', function () {
  const email = 'margaret@example.com';
  const password = 'correct horse battery staple';
  let browser: Browser;
  let latch: TestLatch;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let accountId: string;
  const cspViolations: string[] = [];

  before(async function () {
    requireBrowserOrSkip(this);
    latch = await startLatch();
    await latch.container.accounts.signUp({ email, password }, { ip: '203.0.113.40' });
    accountId = (await latch.container.accounts.findByEmail(email))!.id;
    browser = await launchBrowser();
    context = await browser.newContext();
    page = await context.newPage();
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await latch?.close();
  });

  it('adds a named passkey after a fresh sign-in and shows the recovery codes once', async () => {
    await page.goto(`${latch.issuer}/account/security`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();
    expect(await page.getByText('No passkey yet.').count()).to.equal(1);

    await page.getByLabel('Passkey name').fill('Desk key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    const codes = await page.locator('li code, li').allInnerTexts();
    expect(codes.length).to.be.at.least(10);
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();
    expect(await page.getByText('Desk key').count()).to.equal(1);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).to.have.length(1);
    const stored = await latch.container.mfa.passkeys.list(accountId);
    expect(stored.map((c) => c.name)).to.deep.equal(['Desk key']);
    expect(cspViolations).to.deep.equal([]);
  });

  it('refuses to register the same authenticator twice, with a message on the page', async () => {
    await page.getByLabel('Passkey name').fill('Same key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const alert = page.locator('[data-passkey-error]');
    await alert.waitFor({ state: 'visible' });
    expect(await alert.innerText()).to.match(/already registered/);
    expect(await latch.container.mfa.passkeys.list(accountId)).to.have.length(1);
  });

  it('signs in to the account pages with that passkey alone, then removes a second one it added', async () => {
    await context.clearCookies();
    await page.goto(`${latch.issuer}/account/security`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();

    // a second authenticator, so the first passkey is not the last way to sign in
    const second = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: false });
    await page.getByLabel('Passkey name').fill('Spare key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText('The passkey was added.').waitFor();
    expect((await latch.container.mfa.passkeys.list(accountId)).map((c) => c.name).sort()).to.deep.equal(['Desk key', 'Spare key']);

    await page.locator('li', { hasText: 'Spare key' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText('The passkey was removed.').waitFor();
    expect((await latch.container.mfa.passkeys.list(accountId)).map((c) => c.name)).to.deep.equal(['Desk key']);
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: second.authenticatorId });
  });
});
