import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, type Person } from '../support/people.js';

/** An administrator walks the admin console in Chromium: signs in, disables a user, filters the audit log. */
describe('admin console in Chromium', function () {
  let browser: Browser;
  let latch: TestLatch;
  let admin: Person;
  let person: Person;

  before(async function () {
    requireBrowserOrSkip(this);
    latch = await startLatch();
    admin = await createPerson(latch, 'walk-admin@example.com');
    person = await createPerson(latch, 'walk-person@example.com');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await latch?.close();
  });

  it('signs in at /admin, disables a user from the Users page, and finds it in the audit log', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${latch.url}/admin`);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Admin console' }).waitFor();

    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.getByRole('button', { name: `Disable ${person.email}` }).click();
    await page.getByText('The account was disabled').waitFor();
    expect((await latch.container.accounts.findById(person.id))!.disabled).to.equal(true);
    await page.getByRole('button', { name: `Enable ${person.email}` }).waitFor();

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Type').fill('admin.users');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('cell', { name: 'admin.users.disable' }).waitFor();
    expect(await page.getByRole('cell', { name: 'sign_in.password' }).count()).to.equal(0);
    await context.close();
  });
});
