import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { LoginError, parseIssuer } from '../../scripts/cli/device-login.js';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { latchCli, repoRoot } from '../support/cli.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, type Person } from '../support/people.js';

/**
 * `latch login` / `latch token` / `latch logout` as a person uses them: the command runs as a
 * child process with only PATH, HOME and XDG_CONFIG_HOME (no database, no LATCH_SECRET),
 * Chromium approves the code on /device. Access tokens live 30 s here, under the command's
 * one-minute refresh margin, so `latch token` always refreshes.
 */
describe('latch login, token and logout (device flow, Chromium)', function () {
  let browser: Browser;
  let latch: TestLatch;
  let person: Person;
  let configHome: string;
  let introspector: { clientId: string; clientSecret: string };
  const env = () => ({ XDG_CONFIG_HOME: configHome });
  const credentialsFile = () => path.join(configHome, 'latch', 'credentials.json');

  before(async function () {
    requireBrowserOrSkip(this);
    latch = await startLatch({ LATCH_ACCESS_TOKEN_TTL: '30s' });
    person = await createPerson(latch, 'terminal@example.com');
    const created = await latch.container.clients.create({ name: 'Introspector', grantTypes: ['client_credentials'] });
    introspector = { clientId: created.clientId, clientSecret: created.clientSecret! };
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-login-'));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await latch?.close();
    if (configHome) fs.rmSync(configHome, { recursive: true, force: true });
  });

  const introspect = async (token: string) =>
    (await request(latch.url).post('/token/introspection').auth(introspector.clientId, introspector.clientSecret).type('form').send({ token }).expect(200)).body as { active: boolean; sub?: string };

  it('signs in with the device flow, keeps the tokens in a 0600 file, prints a fresh token, and logout revokes the refresh token', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/latch.js'), 'login', '--issuer', latch.issuer], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env() },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));

    for (let i = 0; i < 300 && !stdout.includes('Waiting for approval'); i += 1) await new Promise((r) => setTimeout(r, 100));
    expect(stdout, stderr).to.include('Waiting for approval');
    const code = /\n {4}([A-Z]{4}-[A-Z]{4})\n/.exec(stdout)?.[1];
    expect(code, stdout).to.be.a('string');
    expect(stdout).to.include(`open ${latch.issuer}/device and enter the code`);
    expect(stdout).to.match(/[▀▄█]/); // the QR code, drawn with block characters

    const page = await (await browser.newContext()).newPage();
    await page.goto(`${latch.issuer}/device`);
    await page.getByLabel('Code').fill(code!);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Authorize this device?' }).waitFor();
    expect(await page.locator('main').innerText()).to.include('Latch command line');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForLoadState('load');
    await page.context().close();

    expect(await exited, stderr).to.equal(0);
    expect(stdout).to.include('Signed in to');
    const stat = fs.statSync(credentialsFile());
    expect(stat.mode & 0o777).to.equal(0o600);
    expect(fs.statSync(path.dirname(credentialsFile())).mode & 0o777).to.equal(0o700);
    const stored = JSON.parse(fs.readFileSync(credentialsFile(), 'utf8')).logins[latch.issuer];
    expect(stored.clientId).to.equal('latch-cli');
    expect(stored.refreshToken).to.be.a('string');

    // 30 s tokens are inside the refresh margin: `latch token` refreshes, rotating the refresh token
    const token = await latchCli(['token'], env());
    expect(token.code, token.stderr).to.equal(0);
    const accessToken = token.stdout.trim();
    expect(accessToken).to.not.equal(stored.accessToken);
    const userinfo = await request(latch.url).get('/me').set('Authorization', `Bearer ${accessToken}`).expect(200);
    expect(userinfo.body.sub).to.equal(person.id);
    const refreshed = JSON.parse(fs.readFileSync(credentialsFile(), 'utf8')).logins[latch.issuer];
    expect(refreshed.refreshToken).to.not.equal(stored.refreshToken);
    expect(fs.statSync(credentialsFile()).mode & 0o777).to.equal(0o600);
    expect((await introspect(refreshed.refreshToken)).active).to.equal(true);

    const out = await latchCli(['logout'], env());
    expect(out.code, out.stderr).to.equal(0);
    expect(fs.existsSync(credentialsFile())).to.equal(false);
    expect((await introspect(refreshed.refreshToken)).active).to.equal(false);

    const after = await latchCli(['token'], env());
    expect(after.code).to.equal(1);
    expect(after.stderr).to.include('not signed in');
  });

  it('refuses an issuer that is not https (except on localhost) or not a URL, with exit code 2', async () => {
    for (const issuer of ['http://id.example.com', 'ftp://localhost', 'not a url', `${latch.issuer}/?x=1`, 'https://user:pw@id.example.com', `${latch.issuer}#x`]) {
      expect(() => parseIssuer(issuer), issuer).to.throw(LoginError, '--issuer');
    }
    expect(parseIssuer(`${latch.issuer}/`)).to.equal(latch.issuer);
    const res = await latchCli(['login', '--issuer', 'http://id.example.com'], env());
    expect(res.code).to.equal(2);
    expect(res.stderr).to.include('--issuer must use https');
  });
});
