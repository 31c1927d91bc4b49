import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { generate } from 'otplib';
import request from 'supertest';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { repoRoot } from '../support/cli.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { awayFromStepBoundary, totpCode } from '../support/totp.js';

/** acr/amr, step-up with acr_values and max_age, LATCH_MFA=off, and the passkey page assets. */
describe('authentication context: acr_values, max_age and amr', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch.close());

  const consentIfAsked = async (pages: HostedPages) => {
    if (!pages.callback && pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
  };

  it('publishes the acr values in discovery', async () => {
    const res = await request(latch.url).get('/.well-known/openid-configuration').expect(200);
    expect(res.body.acr_values_supported).to.deep.equal([ACR.password, ACR.multiFactor]);
    expect(res.body.claims_supported).to.include.members(['acr', 'amr']);
  });

  it('acr_values=…:mfa makes a password-only session sign in again with a second factor (enrolling one if needed)', async () => {
    const account = await createAccount(latch, 'step-up@example.com');
    const pages = new HostedPages(latch);
    let flow = await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    await consentIfAsked(pages);
    let { claims } = await flow.redeem();
    expect(claims.acr).to.equal(ACR.password);

    // the session is enough for an ordinary request…
    flow = await app.start(pages);
    expect(pages.callback).to.be.a('string');
    // …but not for one that asks for two factors
    flow = await app.start(pages, { acr_values: ACR.multiFactor });
    expect(pages.callback).to.equal(undefined);
    expect(pages.text).to.include(`/interaction/${pages.uid}/login`);
    const uid = pages.uid;
    await pages.submit(`/interaction/${uid}/login`, { email: account.email, password: account.password });
    expect(pages.path).to.equal(`/interaction/${uid}/mfa/enrol`);
    expect(pages.text).to.include('asks for a sign-in with two-step verification');
    const secret = pages.codeText('totp-secret');
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${uid}/mfa/enrol/totp`, { code: await totpCode(secret) });
    await pages.submit(`/interaction/${uid}/mfa/done`, {});
    await consentIfAsked(pages);
    ({ claims } = await flow.redeem());
    expect(claims.acr).to.equal(ACR.multiFactor);
    expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);

    // now the session meets it, and a request for the lower level is met as well
    flow = await app.start(pages, { acr_values: ACR.multiFactor });
    expect(pages.callback).to.be.a('string');
    expect((await flow.redeem()).claims.acr).to.equal(ACR.multiFactor);
    flow = await app.start(pages, { acr_values: `${ACR.password} ${ACR.multiFactor}` });
    expect(pages.callback).to.be.a('string');
  });

  it('max_age=0 asks for the password and the second factor again', async () => {
    const account = await createAccount(latch, 'max-age@example.com');
    const { secret } = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);
    const past = Date.now() - 10 * 60_000;
    await latch.container.mfa.totp.confirmEnrolment(account.id, await generate({ secret, epoch: Math.floor(past / 1000) }), past);

    const pages = new HostedPages(latch);
    let flow = await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(secret, -1) });
    await consentIfAsked(pages);
    await flow.redeem();
    await new Promise((r) => setTimeout(r, 1100));
    const secondSignInStarted = Math.floor(Date.now() / 1000);

    flow = await app.start(pages, { max_age: '0' });
    expect(pages.callback).to.equal(undefined);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    expect(pages.path).to.equal(`/interaction/${pages.uid}/mfa`);
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${pages.uid}/mfa/totp`, { code: await totpCode(secret) });
    const second = await flow.redeem();
    expect(second.claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(second.claims.auth_time).to.be.a('number').and.at.least(secondSignInStarted);
  });

  it('ignores acr values it does not know (acr_values is voluntary)', async () => {
    const account = await createAccount(latch, 'unknown-acr@example.com');
    const pages = new HostedPages(latch);
    let flow = await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    await consentIfAsked(pages);
    await flow.redeem();
    flow = await app.start(pages, { acr_values: 'urn:example:something-else' });
    expect(pages.callback).to.be.a('string');
    expect((await flow.redeem()).claims.acr).to.equal(ACR.password);
  });

  it('serves the passkey script and its copy of @simplewebauthn/browser; pages carry no inline script', async () => {
    const copy = fs.readFileSync(path.join(repoRoot, 'views/assets/simplewebauthn-browser.umd.min.js'));
    const installed = fs.readFileSync(path.join(repoRoot, 'node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js'));
    expect(copy.equals(installed), 'views/assets copy differs from the installed @simplewebauthn/browser; copy it again').to.equal(true);
    const served = await request(latch.url).get('/assets/simplewebauthn-browser.umd.min.js').expect(200);
    expect(served.headers['content-type']).to.match(/^text\/javascript/);
    await request(latch.url).get('/assets/passkeys.js').expect(200).expect('content-type', /javascript/);

    const pages = new HostedPages(latch);
    await app.start(pages);
    expect(pages.text).to.include('data-passkey="sign-in"');
    const scripts = [...pages.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => /src="([^"]+)"/.exec(m[1]!)?.[1])).to.deep.equal(['/assets/simplewebauthn-browser.umd.min.js', '/assets/passkeys.js']);
    for (const m of scripts) expect(m[2]!.trim()).to.equal('');
  });
});

describe('LATCH_MFA=off', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch({ LATCH_MFA: 'off' });
    app = await testApp(latch);
  });
  after(() => latch.close());

  it('signs in with the password alone, offers no passkey and has no second-factor routes', async () => {
    const account = await createAccount(latch, 'off@example.com');
    const { secret } = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);
    const past = Date.now() - 10 * 60_000;
    await latch.container.mfa.totp.confirmEnrolment(account.id, await generate({ secret, epoch: Math.floor(past / 1000) }), past);

    const pages = new HostedPages(latch);
    const flow = await app.start(pages);
    expect(pages.text).not.to.include('data-passkey');
    const uid = pages.uid;
    const mfaPage = await pages.agent.get(`/interaction/${uid}/mfa`);
    expect(mfaPage.status).to.equal(404);
    await pages.submit(`/interaction/${uid}/login`, { email: account.email, password: account.password });
    if (!pages.callback) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    expect((await flow.redeem()).claims.amr).to.deep.equal(['pwd']);
  });
});
