import crypto from 'node:crypto';
import { expect } from 'chai';
import { generate } from 'otplib';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { startCallbackServer } from '../support/callback-server.js';
import { client, discover } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { awayFromStepBoundary } from '../support/totp.js';

/**
 * Second factors in a real Chromium, with LATCH_MFA=required: enrolling an authenticator app
 * (the test reads the secret off the page and computes codes with otplib), signing in with it,
 * a replayed code and a reused recovery code refused; enrolling a passkey with Chromium's
 * virtual authenticator (CDP WebAuthn domain), signing in with it alone and as a second
 * factor; and assertions for the wrong origin, replayed, or with a stale counter refused.
 */
describe('second factors in Chromium', function () {
  let browser: Browser;
  let latch: TestLatch;
  let callback: { url: string; close(): Promise<void> };
  let app: client.Configuration;
  let redirectUri: string;
  const password = 'correct horse battery staple';

  before(async function () {
    requireBrowserOrSkip(this);
    callback = await startCallbackServer();
    latch = await startLatch({ LATCH_MFA: 'required' });
    redirectUri = `${callback.url}/cb`;
    const { clientId } = await latch.container.clients.create({ name: 'Notes App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code'] });
    app = await discover(latch.issuer, clientId);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await latch?.close();
    await callback?.close();
  });

  type Tab = { context: BrowserContext; page: Page; cspViolations: string[] };
  async function newTab(): Promise<Tab> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    return { context, page, cspViolations };
  }

  async function newAccount(email: string) {
    await latch.container.accounts.signUp({ email, password }, { ip: `203.0.113.${crypto.randomInt(1, 255)}` });
    return (await latch.container.accounts.findByEmail(email))!;
  }

  /** Starts a code flow in the page; `finish()` redeems the code the page ends with. */
  async function authorize(page: Page, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      ...extra,
    });
    await page.goto(url.href);
    return {
      async finish() {
        const allow = page.getByRole('button', { name: 'Allow' });
        await Promise.race([page.waitForURL(`${redirectUri}?**`), allow.waitFor().then(() => allow.click())]);
        await page.waitForURL(`${redirectUri}?**`);
        const tokens = await client.authorizationCodeGrant(app, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
        return tokens.claims()!;
      },
    };
  }

  async function enterPassword(page: Page, email: string) {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  async function code(secret: string) {
    await awayFromStepBoundary();
    return generate({ secret });
  }

  describe('authenticator app', () => {
    const email = 'grace@example.com';
    let secret: string;
    let recoveryCodes: string[];

    it('enrols an app from the QR page after the password, gets recovery codes, and the app gets amr [pwd, otp, mfa]', async () => {
      await newAccount(email);
      const { page, context, cspViolations } = await newTab();
      const flow = await authorize(page);
      await enterPassword(page, email);
      await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
      const qr = page.getByRole('img', { name: /QR code/ });
      expect(await qr.getAttribute('src')).to.match(/^data:image\/png;base64,/);
      expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).to.equal(true);
      secret = (await page.locator('#totp-secret').innerText()).replace(/\s+/g, '');

      await page.getByLabel('Code', { exact: true }).fill('123456');
      await page.getByRole('button', { name: 'Verify' }).click();
      expect(await page.getByRole('alert').innerText()).to.include('not valid');

      await page.getByLabel('Code', { exact: true }).fill(await code(secret));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
      recoveryCodes = await page.getByRole('list', { name: 'Recovery codes' }).locator('code').allInnerTexts();
      expect(recoveryCodes).to.have.length(10);
      const download = page.getByRole('link', { name: 'Download as text' });
      expect(await download.getAttribute('download')).to.equal('latch-recovery-codes.txt');
      const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
      const text = await new Promise<string>((resolve, reject) => {
        file.createReadStream().then((stream) => {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks).toString())).on('error', reject);
        }, reject);
      });
      for (const c of recoveryCodes) expect(text).to.include(c);

      await page.getByRole('button', { name: 'Continue' }).click();
      const claims = await flow.finish();
      expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
      expect(claims.acr).to.equal(ACR.multiFactor);
      expect(cspViolations).to.deep.equal([]);
      await context.close();
    });

    it('signs in with a code from the app; the same code a second time is refused', async () => {
      const first = await newTab();
      let flow = await authorize(first.page);
      await enterPassword(first.page, email);
      await first.page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      // the enrolment spent this time step's code; the app's next code (one step ahead, within
      // the ±1 step Latch allows) is what a person would type rather than waiting for it
      await awayFromStepBoundary();
      const current = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
      await first.page.getByLabel('Code', { exact: true }).fill(current);
      await first.page.getByRole('button', { name: 'Verify' }).click();
      expect((await flow.finish()).amr).to.deep.equal(['pwd', 'otp', 'mfa']);
      await first.context.close();

      const second = await newTab();
      flow = await authorize(second.page);
      await enterPassword(second.page, email);
      await second.page.getByLabel('Code', { exact: true }).fill(current);
      await second.page.getByRole('button', { name: 'Verify' }).click();
      expect(await second.page.getByRole('alert').innerText()).to.include('That code is not valid');
      expect(second.page.url()).not.to.include(redirectUri);
      expect(second.cspViolations).to.deep.equal([]);
      await second.context.close();
    });

    it('signs in once with a recovery code; the same recovery code is refused afterwards', async () => {
      for (const attempt of ['works', 'refused']) {
        const { page, context } = await newTab();
        const flow = await authorize(page);
        await enterPassword(page, email);
        await page.getByRole('link', { name: 'Use a recovery code' }).click();
        await page.getByLabel('Recovery code').fill(recoveryCodes[0]!);
        await page.getByRole('button', { name: 'Verify' }).click();
        if (attempt === 'works') expect((await flow.finish()).amr).to.deep.equal(['pwd', 'otp', 'mfa']);
        else expect(await page.getByRole('alert').innerText()).to.include('That code is not valid');
        await context.close();
      }
    });
  });

  describe('passkeys', () => {
    const email = 'katherine@example.com';
    let tab: Tab;
    let cdp: CDPSession;
    let authenticatorId: string;
    let accountId: string;
    let capturedAssertion: string | undefined;

    before(async () => {
      accountId = (await newAccount(email)).id;
      tab = await newTab();
      cdp = await tab.context.newCDPSession(tab.page);
      await cdp.send('WebAuthn.enable');
      ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      }));
    });
    after(() => tab?.context.close());

    it('enrols a passkey with a name after the password; the app gets amr [pwd, hwk, mfa]', async () => {
      const { page } = tab;
      const flow = await authorize(page);
      await enterPassword(page, email);
      await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
      await page.getByLabel('Passkey name').fill('Work laptop');
      await page.getByRole('button', { name: 'Create a passkey' }).click();
      await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
      await page.getByRole('button', { name: 'Continue' }).click();
      const claims = await flow.finish();
      expect(claims.amr).to.deep.equal(['pwd', 'hwk', 'mfa']);
      expect(claims.acr).to.equal(ACR.multiFactor);

      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).to.have.length(1);
      expect(credentials[0]!.isResidentCredential).to.equal(true);
      const stored = await latch.container.mfa.passkeys.list(accountId);
      expect(stored.map((c) => c.name)).to.deep.equal(['Work laptop']);
      expect(tab.cspViolations).to.deep.equal([]);
    });

    it('signs in with the passkey alone (passwordless, user verified): amr [hwk, mfa]', async () => {
      const { page } = tab;
      page.on('request', (req) => {
        if (req.method() === 'POST' && /\/interaction\/[^/]+\/passkey$/.test(new URL(req.url()).pathname)) {
          capturedAssertion = new URLSearchParams(req.postData() ?? '').get('response') ?? undefined;
        }
      });
      const flow = await authorize(page, { prompt: 'login' });
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.getByRole('button', { name: 'Use a passkey' }).click();
      const claims = await flow.finish();
      expect(claims.sub).to.equal(accountId);
      expect(claims.amr).to.deep.equal(['hwk', 'mfa']);
      expect(claims.acr).to.equal(ACR.multiFactor);
      expect(capturedAssertion).to.be.a('string');
      expect(tab.cspViolations).to.deep.equal([]);
    });

    it('uses the passkey as the second factor after the password', async () => {
      const { page } = tab;
      const flow = await authorize(page, { prompt: 'login' });
      await enterPassword(page, email);
      await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      await page.getByRole('button', { name: 'Use a passkey' }).click();
      expect((await flow.finish()).amr).to.deep.equal(['pwd', 'hwk', 'mfa']);
    });

    /** Asks the sign-in page for passwordless options, as passkeys.js does. */
    async function passwordlessOptions(page: Page): Promise<{ challenge: string; rpId: string }> {
      return page.evaluate(async () => {
        const form = document.querySelector<HTMLFormElement>('form[data-passkey="sign-in"]')!;
        const csrf = form.querySelector<HTMLInputElement>('input[name=_csrf]')!.value;
        const res = await fetch(form.dataset.optionsUrl!, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ _csrf: csrf }),
        });
        return res.json();
      });
    }

    /** Posts an assertion through the sign-in page's passkey form, as passkeys.js does. */
    async function submitAssertion(page: Page, response: string) {
      await Promise.all([
        page.waitForNavigation(),
        page.evaluate((json) => {
          const form = document.querySelector<HTMLFormElement>('form[data-passkey="sign-in"]')!;
          form.querySelector<HTMLInputElement>('input[name=response]')!.value = json;
          HTMLFormElement.prototype.submit.call(form);
        }, response),
      ]);
    }

    /**
     * An assertion signed with the virtual authenticator's own private key (read over CDP), for
     * any origin and counter we choose: a correctly signed answer from the wrong place.
     */
    async function forgeAssertion(challenge: string, origin: string, counter: number, flags = 0x05 /* user present + verified */): Promise<string> {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      const credential = credentials[0]!;
      const key = crypto.createPrivateKey({ key: Buffer.from(credential.privateKey, 'base64'), format: 'der', type: 'pkcs8' });
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }));
      const signCount = Buffer.alloc(4);
      signCount.writeUInt32BE(counter);
      const authenticatorData = Buffer.concat([crypto.createHash('sha256').update(new URL(latch.issuer).hostname).digest(), Buffer.from([flags]), signCount]);
      const signed = Buffer.concat([authenticatorData, crypto.createHash('sha256').update(clientDataJSON).digest()]);
      const signature = crypto.sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', signed, key);
      const id = Buffer.from(credential.credentialId, 'base64').toString('base64url');
      return JSON.stringify({
        id,
        rawId: id,
        type: 'public-key',
        response: {
          clientDataJSON: clientDataJSON.toString('base64url'),
          authenticatorData: authenticatorData.toString('base64url'),
          signature: signature.toString('base64url'),
          userHandle: Buffer.from(credential.userHandle!, 'base64').toString('base64url'),
        },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      });
    }

    const storedCounter = async () => Number((await latch.container.knex('webauthn_credentials').where({ account_id: accountId }).first()).counter);

    it('refuses a correctly signed assertion made for another origin; the same one for the right origin passes', async () => {
      const { page } = tab;
      const wrongOrigin = latch.issuer.replace('localhost', '127.0.0.1');
      let flow = await authorize(page, { prompt: 'login' });
      let options = await passwordlessOptions(page);
      expect(options.rpId).to.equal('localhost');
      await submitAssertion(page, await forgeAssertion(options.challenge, wrongOrigin, (await storedCounter()) + 1));
      expect(await page.getByRole('alert').first().innerText()).to.include('That passkey could not be verified');
      expect(page.url()).not.to.include(redirectUri);

      // control: the very same forging with the right origin is accepted, so origin was the reason
      flow = await authorize(page, { prompt: 'login' });
      options = await passwordlessOptions(page);
      await submitAssertion(page, await forgeAssertion(options.challenge, latch.issuer, (await storedCounter()) + 1));
      expect((await flow.finish()).sub).to.equal(accountId);
    });

    it('refuses an assertion whose counter did not move forward', async () => {
      const { page } = tab;
      await authorize(page, { prompt: 'login' });
      const options = await passwordlessOptions(page);
      await submitAssertion(page, await forgeAssertion(options.challenge, latch.issuer, await storedCounter()));
      expect(await page.getByRole('alert').first().innerText()).to.include('That passkey could not be verified');
    });

    it('refuses a passwordless assertion without user verification', async () => {
      const { page } = tab;
      await authorize(page, { prompt: 'login' });
      const options = await passwordlessOptions(page);
      await submitAssertion(page, await forgeAssertion(options.challenge, latch.issuer, (await storedCounter()) + 1, 0x01));
      expect(await page.getByRole('alert').first().innerText()).to.include('That passkey could not be verified');
    });

    it('refuses a replay of an assertion the browser sent earlier (its challenge was spent)', async () => {
      const { page } = tab;
      expect(capturedAssertion).to.be.a('string');
      await authorize(page, { prompt: 'login' });
      await passwordlessOptions(page); // a live challenge exists for this sign-in, just not that one
      await submitAssertion(page, capturedAssertion!);
      expect(await page.getByRole('alert').first().innerText()).to.include('That passkey could not be verified');
      expect(page.url()).not.to.include(redirectUri);
    });
  });
});
