import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { client, discover } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** The device code pages in a real Chromium: entry, confirmation, denial; no CSP violations. */
describe('device code pages in Chromium', function () {
  let browser: Browser;
  let latch: TestLatch;
  let config: client.Configuration;
  let page: Page;
  let cspViolations: string[];

  before(async function () {
    requireBrowserOrSkip(this);
    latch = await startLatch();
    const created = await latch.container.clients.create({ name: 'Living Room TV', public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
    config = await discover(latch.issuer, created.clientId);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await latch?.close();
  });
  beforeEach(async () => {
    const context = await browser.newContext({ userAgent: 'LatchTestBrowser/1.0' });
    page = await context.newPage();
    cspViolations = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
  });
  afterEach(async () => {
    await page?.context().close();
  });

  it('a person types the code, sees which app asks and from where, and can deny it', async () => {
    const device = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    await page.goto(`${latch.url}/device`);
    await page.getByLabel('Code').fill(device.user_code.toLowerCase().replace('-', ' '));
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Authorize this device?' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).to.include('Living Room TV');
    expect(text).to.include(device.user_code);
    expect(text).to.match(/127\.0\.0\.1|::1|::ffff:127\.0\.0\.1/);

    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForLoadState('load');
    const poll = await fetch(`${latch.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: config.clientMetadata().client_id }),
    });
    expect((await poll.json()).error).to.equal('access_denied');
    expect(cspViolations).to.deep.equal([]);
  });

  it('the verification_uri_complete link lands on the confirmation page, and approving asks for sign-in', async () => {
    const device = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    await page.goto(device.verification_uri_complete!);
    await page.getByRole('heading', { name: 'Authorize this device?' }).waitFor();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('main').innerText()).to.include('Living Room TV');
    expect(cspViolations).to.deep.equal([]);
  });

  it('a wrong code is refused on the page with a message', async () => {
    await page.goto(`${latch.url}/device`);
    await page.getByLabel('Code').fill('BBBB-BBBB');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect(await page.getByRole('alert').innerText()).to.include('not valid');
  });
});
