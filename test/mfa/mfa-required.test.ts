import { expect } from 'chai';
import { generate } from 'otplib';
import request from 'supertest';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { client, discover } from '../support/oauth.js';
import { awayFromStepBoundary, totpCode } from '../support/totp.js';

/**
 * LATCH_MFA=required: a person without a second factor enrols one after the password, and no
 * code or token is issued before that — in the code flow and in the device flow.
 */
describe('LATCH_MFA=required', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch({ LATCH_MFA: 'required' });
    app = await testApp(latch);
  });
  after(() => latch.close());

  async function signInWithPassword(pages: HostedPages, account: { email: string; password: string }) {
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
  }

  it('code flow: after the password the person must enrol; no code until the app is confirmed', async () => {
    const account = await createAccount(latch, 'must-enrol@example.com');
    const pages = new HostedPages(latch);
    const flow = await app.start(pages);
    const uid = pages.uid;
    await signInWithPassword(pages, account);
    expect(pages.path).to.equal(`/interaction/${uid}/mfa/enrol`);
    expect(pages.text).to.match(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="QR code/);
    const secret = pages.codeText('totp-secret');
    expect(secret).to.match(/^[A-Z2-7]{32}$/);
    expect(pages.callback).to.equal(undefined);

    // the factor is not active yet, and nothing finishes the sign-in without it
    expect(await latch.container.mfa.hasSecondFactor(account.id)).to.equal(false);
    await pages.submit(`/interaction/${uid}/mfa/done`, {});
    expect(pages.callback).to.equal(undefined);
    expect(pages.path).to.equal(`/interaction/${uid}/mfa/done`);
    expect(pages.text).to.include('Set up a second factor to continue');

    // a wrong code keeps it inactive
    await pages.get(`/interaction/${uid}/mfa/enrol`);
    expect(pages.codeText('totp-secret')).to.equal(secret); // same secret after a reload
    await pages.submit(`/interaction/${uid}/mfa/enrol/totp`, { code: '000000' });
    expect(pages.status).to.equal(400);
    expect(await latch.container.mfa.hasSecondFactor(account.id)).to.equal(false);

    await awayFromStepBoundary();
    await pages.submit(`/interaction/${uid}/mfa/enrol/totp`, { code: await totpCode(secret) });
    expect(pages.status).to.equal(200);
    expect(pages.text).to.include('Save your recovery codes');
    const codes = [...pages.text.matchAll(/<li><code>([A-Z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]);
    expect(codes).to.have.length(10);
    const download = /href="(data:text\/plain;charset=utf-8,[^"]+)" download="latch-recovery-codes.txt">Download as text/.exec(pages.text)?.[1];
    expect(decodeURIComponent(download!.split(',')[1]!)).to.include(codes.join('\n'));
    expect(await latch.container.mfa.hasSecondFactor(account.id)).to.equal(true);

    await pages.submit(`/interaction/${uid}/mfa/done`, {});
    if (!pages.callback) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    const { claims } = await flow.redeem();
    expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims.acr).to.equal(ACR.multiFactor);
  });

  it('going back to oidc-provider before enrolling starts the sign-in over, with no code', async () => {
    const account = await createAccount(latch, 'skip-ahead@example.com');
    const pages = new HostedPages(latch);
    await app.start(pages);
    const uid = pages.uid;
    await signInWithPassword(pages, account);
    expect(pages.path).to.equal(`/interaction/${uid}/mfa/enrol`);
    await pages.get(`/auth/${uid}`);
    expect(pages.callback).to.equal(undefined);
    expect(pages.uid).not.to.equal(uid);
    expect(pages.text).to.include(`/interaction/${pages.uid}/login`);
  });

  it('an account that has a factor is asked for it, and cannot enrol another in its place', async () => {
    const account = await createAccount(latch, 'has-factor@example.com');
    const { secret } = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);
    const past = Date.now() - 10 * 60_000;
    await latch.container.mfa.totp.confirmEnrolment(account.id, await generate({ secret, epoch: Math.floor(past / 1000) }), past);

    const pages = new HostedPages(latch);
    await app.start(pages);
    const uid = pages.uid;
    await signInWithPassword(pages, account);
    expect(pages.path).to.equal(`/interaction/${uid}/mfa`);

    // someone with only the password tries to replace the app with one of their own
    await pages.get(`/interaction/${uid}/mfa/enrol`);
    expect(pages.path).to.equal(`/interaction/${uid}/mfa`);
    const attacker = await latch.container.mfa.totp.beginEnrolment(account.id, account.email);
    await pages.submit(`/interaction/${uid}/mfa/enrol/totp`, { code: await totpCode(attacker.secret) });
    expect(pages.status).to.equal(403);
    expect(pages.text).to.include('already has a second factor');
    await pages.get(`/interaction/${uid}/mfa`);
    await pages.submit(`/interaction/${uid}/mfa/done`, {});
    expect(pages.callback).to.equal(undefined);
    const row = await latch.container.knex('mfa_totp_factors').where({ account_id: account.id, confirmed: true }).first();
    expect(latch.container.sealer.open(row.secret_sealed, `mfa-totp:${row.id}`)).to.equal(secret);
  });

  it('device flow: polling stays pending until the person has enrolled and approved', async () => {
    const account = await createAccount(latch, 'tv-owner@example.com');
    const tv = await latch.container.clients.create({ name: 'Kitchen TV', public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
    const tvConfig = await discover(latch.issuer, tv.clientId);
    const device = await client.initiateDeviceAuthorization(tvConfig, { scope: 'openid email' });
    const poll = () =>
      request(latch.url)
        .post('/token')
        .type('form')
        .send({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: tv.clientId });

    const pages = new HostedPages(latch);
    await pages.get(`/device?user_code=${encodeURIComponent(device.user_code)}`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(pages.text)![1]!;
    await pages.submitFields('/device', { xsrf, user_code: device.user_code, confirm: 'yes' });
    const uid = pages.uid;
    await signInWithPassword(pages, account);
    expect(pages.path).to.equal(`/interaction/${uid}/mfa/enrol`);
    // still no token (polling again so soon may be told to slow down, RFC 8628 §3.5)
    expect((await poll()).body.error).to.be.oneOf(['authorization_pending', 'slow_down']);

    const secret = pages.codeText('totp-secret');
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${uid}/mfa/enrol/totp`, { code: await totpCode(secret) });
    expect(pages.text).to.include('Save your recovery codes');
    expect((await poll()).body.error).to.be.oneOf(['authorization_pending', 'slow_down']);

    await pages.submit(`/interaction/${uid}/mfa/done`, {});
    if (pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    expect(pages.text).to.include('Device connected');

    const tokens = await poll();
    expect(tokens.status).to.equal(200);
    const claims = JSON.parse(Buffer.from(tokens.body.id_token.split('.')[1], 'base64url').toString());
    expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims.acr).to.equal(ACR.multiFactor);
  });

  it('a session that signed in with a password before the policy gets no code: it must sign in again', async () => {
    const port = await freePort();
    const before = await startLatch({ PORT: String(port), LATCH_MFA: 'optional' });
    const optionalApp = await testApp(before);
    const account = await createAccount(before, 'old-session@example.com');
    const pages = new HostedPages(before);
    let flow = await optionalApp.start(pages);
    await signInWithPassword(pages, account);
    if (!pages.callback) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    expect((await flow.redeem()).claims.amr).to.deep.equal(['pwd']);
    // with the session cookie, the next request is answered at once
    flow = await optionalApp.start(pages);
    expect(pages.callback).to.be.a('string');
    await before.close();

    const after = await startLatch({ PORT: String(port), LATCH_MFA: 'required' }, before.db);
    try {
      flow = await optionalApp.start(pages);
      expect(pages.callback).to.equal(undefined);
      expect(pages.text).to.include(`/interaction/${pages.uid}/login`);
      await signInWithPassword(pages, account);
      expect(pages.path).to.equal(`/interaction/${pages.uid}/mfa/enrol`);
    } finally {
      await after.close();
    }
  });
});
