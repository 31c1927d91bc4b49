import { expect } from 'chai';
import request from 'supertest';
import { createAdminCommands } from '../../lib/admin/admin-commands.js';
import { authorize, countRows, introspect, openSignIn, refresh, signUpAccount, tokensFor, PASSWORD, type Agent } from '../support/flow.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { signIn } from '../support/people.js';

/**
 * SECURITY.md E.34 — disabling an account ends everything it holds at once: every session,
 * grant, code, refresh and access token; its sign-ins are refused with the message of a wrong
 * password; enabling it lets it sign in again (but nothing ended comes back).
 */
const redirectUri = 'https://app.example.com/cb';

describe('SECURITY E.34 — disabling an account ends its sessions, grants and tokens at once', function () {
  this.timeout(120_000);
  let latch: TestLatch;
  let web: string;

  before(async () => {
    latch = await startLatch();
    // the first account becomes the administrator; the accounts under test come after it
    await signUpAccount(latch, 'first-admin@example.com');
    ({ clientId: web } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] }));
  });
  after(() => latch.close());

  const agent = (): Agent => request.agent(latch.url);
  const loginPage = async (email: string, password: string) => {
    const b = agent();
    const { uid, csrf } = await openSignIn(latch, b, { clientId: web, redirectUri });
    return b.post(`/interaction/${uid}/login`).type('form').send({ email, password, _csrf: csrf });
  };

  it('sessions, refresh tokens, opaque and JWT access tokens all stop working; sign-in is refused like a wrong password', async () => {
    const email = 'to-disable@example.com';
    const { id } = await signUpAccount(latch, email);
    await latch.container.knex('accounts').where({ id }).update({ email_verified: true });

    // one browser with an app's opaque access token and refresh token …
    const a = agent();
    const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
    // … and another with a JWT for Latch's own API
    const jwt = await signIn(latch, { id, email, password: PASSWORD }, { clientId: web, redirectUri });
    expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(true);
    await a.get('/api/v1/me').expect(200);
    await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${jwt.tokens.access_token}`).expect(200);
    expect(await countRows(latch, 'oidc_payloads', { account_id: id, model: 'Session' })).to.equal(2);

    const result = await createAdminCommands(latch.container)['users.disable']({ user: email });
    expect(result).to.include({ id, disabled: true });
    expect(result.ended).to.be.greaterThan(0);

    expect(await countRows(latch, 'oidc_payloads', { account_id: id })).to.equal(0);
    expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(false);
    expect((await request(latch.url).get('/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).to.equal(401);
    const refreshed = await refresh(latch, { clientId: web }, tokens.refresh_token!);
    expect(refreshed.status).to.equal(400);
    expect(refreshed.body.error).to.equal('invalid_grant');
    expect((await refresh(latch, { clientId: web }, jwt.tokens.refresh_token!)).body.error).to.equal('invalid_grant');
    expect((await a.get('/api/v1/me')).status).to.equal(401);
    expect((await jwt.agent.get('/api/v1/me')).status).to.equal(401);
    expect((await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${jwt.tokens.access_token}`)).status).to.equal(401);
    // the browser's session is gone: a silent request must sign in again
    const silent = await authorize(latch, a, { clientId: web, redirectUri, params: { prompt: 'none' } });
    expect(silent.location.searchParams.get('error')).to.equal('login_required');

    // the right password now gets exactly what a wrong password gets
    const right = await loginPage(email, PASSWORD);
    const wrong = await loginPage(email, 'not the password at all');
    expect(right.status).to.equal(400);
    expect(right.status).to.equal(wrong.status);
    const message = (html: string) => /<p role="alert" id="form-error">([^<]*)<\/p>/.exec(html)?.[1];
    expect(message(right.text)).to.equal(message(wrong.text));
    expect(message(right.text)).to.include('do not match an account');
  });

  it('enabling lets the account sign in again; what was ended stays ended', async () => {
    const email = 'disable-then-enable@example.com';
    const { id } = await signUpAccount(latch, email);
    const a = agent();
    const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email, scope: 'openid offline_access', params: { prompt: 'consent' } });
    const commands = createAdminCommands(latch.container);
    await commands['users.disable']({ user: id });
    await commands['users.enable']({ user: id });
    expect((await refresh(latch, { clientId: web }, tokens.refresh_token!)).body.error).to.equal('invalid_grant');
    const again = await tokensFor(latch, agent(), { clientId: web, redirectUri, email, scope: 'openid' });
    expect(again.tokens.access_token).to.be.a('string');
  });

  it('the only enabled administrator cannot be disabled or deleted', async () => {
    const admins = await latch.container.knex('accounts').where({ is_admin: true }).select('id', 'email');
    expect(admins).to.have.length(1);
    const commands = createAdminCommands(latch.container);
    for (const command of ['users.disable', 'users.delete'] as const) {
      const err = await commands[command]({ user: admins[0].email }).then(() => undefined, (e: Error & { status?: number }) => e);
      expect(err?.status, command).to.equal(409);
      expect(err?.message).to.include('only enabled administrator');
    }
    expect(await countRows(latch, 'accounts', { id: admins[0].id, disabled: false })).to.equal(1);
  });
});
