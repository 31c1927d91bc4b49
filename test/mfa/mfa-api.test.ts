import { expect } from 'chai';
import { generate } from 'otplib';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { awayFromStepBoundary, totpCode } from '../support/totp.js';

/**
 * /api/v1/mfa, as the account page uses it: with the browser session's cookie (and a trusted
 * Origin), changes only within five minutes of signing in; a bearer token may read, not change.
 */
describe('/api/v1/mfa', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch.close());

  async function signedIn(email: string, extra: Record<string, string> = {}) {
    const account = await createAccount(latch, email);
    const pages = new HostedPages(latch);
    const flow = await app.start(pages, extra);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    if (!pages.callback) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
    const origin = new URL(latch.issuer).origin;
    const api = {
      get: (path: string) => pages.agent.get(`/api/v1${path}`).set('accept', 'application/json'),
      post: (path: string, body: object = {}) => pages.agent.post(`/api/v1${path}`).set('origin', origin).send(body),
      patch: (path: string, body: object) => pages.agent.patch(`/api/v1${path}`).set('origin', origin).send(body),
      delete: (path: string) => pages.agent.delete(`/api/v1${path}`).set('origin', origin),
    };
    return { account, pages, flow, api };
  }

  it('enrols an authenticator app: active only after a valid code, with ten recovery codes once', async () => {
    const { account, api } = await signedIn('api-totp@example.com');
    let res = await api.get('/mfa').expect(200);
    expect(res.body).to.deep.equal({ required: false, totp: null, passkeys: [], remainingRecoveryCodes: 0 });

    res = await api.post('/mfa/totp').expect(201);
    expect(res.body.secret).to.match(/^[A-Z2-7]{32}$/);
    expect(res.body.otpauthUri).to.match(/^otpauth:\/\/totp\//);
    expect(res.body.qrCodeDataUrl).to.match(/^data:image\/png;base64,/);
    const secret: string = res.body.secret;

    res = await api.post('/mfa/totp/confirm', { code: '000000' }).expect(400);
    expect(res.body.error).to.equal('invalid_code');
    expect((await api.get('/mfa').expect(200)).body.totp).to.equal(null);

    await awayFromStepBoundary();
    res = await api.post('/mfa/totp/confirm', { code: await totpCode(secret) }).expect(200);
    expect(res.body.recoveryCodes).to.have.length(10);
    res = await api.get('/mfa').expect(200);
    expect(res.body.totp).to.have.property('id');
    expect(res.body.remainingRecoveryCodes).to.equal(10);

    res = await api.post('/mfa/recovery-codes').expect(200);
    expect(res.body.recoveryCodes).to.have.length(10);
    expect(await latch.container.mfa.recoveryCodes.consume(account.id, res.body.recoveryCodes[0])).to.equal(true);

    // removing the only factor turns two-step verification off and drops the codes
    await api.delete('/mfa/totp').expect(204);
    res = await api.get('/mfa').expect(200);
    expect(res.body).to.include({ totp: null, remainingRecoveryCodes: 0 });
  });

  it('gives passkey registration options pinned to the issuer, bound to the session', async () => {
    const { account, api } = await signedIn('api-passkey@example.com');
    const res = await api.post('/mfa/passkeys/options').expect(200);
    expect(res.body.rp.id).to.equal('localhost');
    expect(res.body.user.name).to.equal(account.email);
    const challenge = await latch.container.knex('webauthn_challenges').where({ challenge: res.body.challenge }).first();
    expect(challenge.purpose).to.equal('passkey-enrol');
    expect(challenge.binding).to.match(/^session:/);
    expect(challenge.account_id).to.equal(account.id);
    // a made-up response is refused (and spends nothing it should not)
    const bad = await api.post('/mfa/passkeys', { response: { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'AA' } } }).expect(400);
    expect(bad.body.error).to.equal('passkey_failed');
  });

  it('refuses changes when the sign-in is more than five minutes old', async () => {
    const { account, api } = await signedIn('api-stale@example.com');
    await api.get('/mfa').expect(200);
    const sessions = await latch.container.knex('oidc_payloads').where({ model: 'Session', account_id: account.id });
    expect(sessions).to.have.length(1);
    const payload = sessions[0].payload;
    await latch.container.knex('oidc_payloads')
      .where({ model: 'Session', id: sessions[0].id })
      .update({ payload: JSON.stringify({ ...payload, loginTs: Math.floor(Date.now() / 1000) - 6 * 60 }) });
    const res = await api.post('/mfa/totp').expect(403);
    expect(res.body.error).to.equal('reauthentication_required');
    await api.get('/mfa').expect(200);
  });

  it('lets a bearer token read the factors but not change them', async () => {
    const latchApi = latch.container.resources.latchApi.identifier;
    const { flow } = await signedIn('api-bearer@example.com', { resource: latchApi, scope: 'openid api:read api:write' });
    const { tokens } = await flow.redeem({ resource: latchApi });
    const bearer = `Bearer ${tokens.access_token}`;
    const request = (await import('supertest')).default(latch.url);
    await request.get('/api/v1/mfa').set('authorization', bearer).expect(200);
    const res = await request.post('/api/v1/mfa/totp').set('authorization', bearer).expect(403);
    expect(res.body.error).to.equal('session_required');
  });

  it('is described in the OpenAPI document', async () => {
    const { api } = await signedIn('api-openapi@example.com');
    const doc = (await api.get('/openapi.json').expect(200)).body;
    expect(Object.keys(doc.paths)).to.include.members(['/api/v1/mfa', '/api/v1/mfa/totp', '/api/v1/mfa/totp/confirm', '/api/v1/mfa/passkeys/{passkeyId}', '/api/v1/mfa/recovery-codes']);
  });
});

describe('/api/v1/mfa with LATCH_MFA=required', () => {
  let latch: TestLatch;

  before(async () => {
    latch = await startLatch({ LATCH_MFA: 'required' });
  });
  after(() => latch.close());

  it('keeps at least one second factor', async () => {
    const app = await testApp(latch);
    const account = await createAccount(latch, 'keep-one@example.com');
    const pages = new HostedPages(latch);
    await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
    const secret = pages.codeText('totp-secret');
    await awayFromStepBoundary();
    await pages.submit(`/interaction/${pages.uid}/mfa/enrol/totp`, { code: await generate({ secret }) });
    await pages.submit(`/interaction/${pages.uid}/mfa/done`, {});
    const res = await pages.agent.delete('/api/v1/mfa/totp').set('origin', new URL(latch.issuer).origin).expect(409);
    expect(res.body.error).to.equal('last_factor');
    expect((await pages.agent.get('/api/v1/mfa').expect(200)).body.required).to.equal(true);
  });
});
