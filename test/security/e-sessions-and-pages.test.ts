import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import { createAdminCommands } from '../../lib/admin/admin-commands.js';
import { securityHeaders } from '../../lib/http/security-headers.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';
import {
  authParams,
  authorize,
  countRows,
  csrfFrom,
  interactionForm,
  introspect,
  latchPath,
  openSignIn,
  pkcePair,
  refresh,
  setCookies,
  signUpAccount,
  tokensFor,
  xsrfFrom,
  PASSWORD,
  type Agent,
} from '../support/flow.js';

/** SECURITY.md part E — sessions, cookies, CSRF and the hosted pages' headers and escaping. */
const redirectUri = 'https://app.example.com/cb';

describe('SECURITY E — sessions and hosted pages', function () {
  let latch: TestLatch;
  let web: string;
  const email = 'eve@example.com';
  let accountId: string;
  let mailbox: TestMailbox;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    mailbox = await startMailbox();
    latch = await startLatch({ LATCH_SESSION_TTL: '2h', SMTP_URL: mailbox.url, MAIL_FROM: 'Latch <latch@example.com>' });
    ({ clientId: web } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri], postLogoutRedirectUris: ['https://app.example.com/bye'] }));
    accountId = (await signUpAccount(latch, email)).id;
  });
  after(async () => {
    await latch?.close();
    await mailbox?.close();
  });

  const agent = (): Agent => request.agent(latch.url);
  const signedIn = async (who = email) => {
    const a = agent();
    await authorize(latch, a, { clientId: web, redirectUri, email: who });
    return a;
  };
  const silent = (a: Agent) => authorize(latch, a, { clientId: web, redirectUri, params: { prompt: 'none' } });
  const sessionCookie = (res: request.Response) => setCookies(res).get('_session')?.value;
  /** The cookie header a browser holding only these cookies would send. */
  const cookieHeader = (res: request.Response, names: string[]) =>
    names.map((n) => `${n}=${setCookies(res).get(n)!.value}`).join('; ');
  const silentWithCookies = (cookie: string) =>
    request(latch.url).get('/auth').set('Cookie', cookie).query(authParams({ clientId: web, redirectUri, params: { prompt: 'none' } }, pkcePair().challenge, 'st'));
  const errorOf = (res: request.Response) => new URL(res.headers.location!).searchParams.get('error');

  describe('SECURITY E.33 — the session id changes at sign-in; an interaction belongs to the browser that started it', () => {
    it('a session planted before sign-in is not the signed-in session, and a second sign-in changes it again', async () => {
      const a = agent();
      const device = await a.get('/device').expect(200);
      const planted = sessionCookie(device);
      expect(planted).to.be.a('string');
      const plantedCookie = cookieHeader(device, ['_session', '_session.sig']);

      const run = await authorize(latch, a, { clientId: web, redirectUri, email });
      const afterSignIn = run.responses.map(sessionCookie).filter(Boolean).at(-1);
      expect(afterSignIn).to.be.a('string').and.not.equal(planted);
      // whoever planted the old cookie holds nothing
      expect(errorOf(await silentWithCookies(plantedCookie))).to.equal('login_required');
      expect((await silent(a)).code).to.be.a('string');

      const again = await authorize(latch, a, { clientId: web, redirectUri, email, params: { prompt: 'login' } });
      expect(again.signedIn).to.equal(true);
      const afterSecond = again.responses.map(sessionCookie).filter(Boolean).at(-1);
      expect(afterSecond).to.be.a('string').and.not.equal(afterSignIn);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Session', id: afterSignIn! })).to.equal(0);
    });

    it('another browser cannot view or submit a sign-in interaction it did not start', async () => {
      const victim = agent();
      const { uid, csrf } = await openSignIn(latch, victim, { clientId: web, redirectUri });
      const attacker = agent();
      expect((await attacker.get(`/interaction/${uid}`)).status).to.equal(400);
      // the attacker has a CSRF token of its own and an interaction of its own, and submits its credentials into the victim's
      const own = await openSignIn(latch, attacker, { clientId: web, redirectUri });
      const swap = await attacker.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: own.csrf });
      expect(swap.status).to.equal(400);
      expect(swap.headers).not.to.have.property('location');
      expect(swap.text).to.include('belongs to another browser');
      // the victim's interaction is untouched and still works for the victim
      const page = await victim.get(`/interaction/${uid}`);
      expect(interactionForm(page.text)?.step).to.equal('login');
      const ok = await victim.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: csrf });
      expect(ok.status).to.equal(303);
    });
  });

  describe('SECURITY E.34 — logout and deletion end server sessions and revoke grants; sessions have a lifetime', () => {
    it('RP-initiated logout ends the server session and revokes the grant of the app', async () => {
      const a = agent();
      const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email });
      expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(true);
      const sessions = await countRows(latch, 'oidc_payloads', { model: 'Session', account_id: accountId });
      const page = await a.get('/session/end').query({ id_token_hint: tokens.id_token! });
      const done = await a.post('/session/end/confirm').type('form').send({ xsrf: xsrfFrom(page.text), logout: 'yes' });
      expect(done.status).to.equal(303);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Session', account_id: accountId })).to.equal(sessions - 1);
      expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(false);
      expect((await silent(a)).location.searchParams.get('error')).to.equal('login_required');
    });

    it('"end this session" and "sign out everywhere" end sessions and refresh tokens', async () => {
      const email2 = 'multi@example.com';
      await signUpAccount(latch, email2);
      const laptop = agent();
      const phone = agent();
      const { tokens } = await tokensFor(latch, laptop, { clientId: web, redirectUri, email: email2, scope: 'openid offline_access', params: { prompt: 'consent' } });
      await authorize(latch, phone, { clientId: web, redirectUri, email: email2 });
      const list = (await phone.get('/api/v1/sessions').expect(200)).body as Array<{ id: string; current: boolean }>;
      expect(list).to.have.length(2);
      const laptopSession = list.find((s) => !s.current)!;
      await phone.delete(`/api/v1/sessions/${laptopSession.id}`).set('Origin', latch.issuer).expect(204);
      expect((await silent(laptop)).location.searchParams.get('error')).to.equal('login_required');
      expect((await silent(phone)).code).to.be.a('string');

      await phone.post('/api/v1/sessions/end-all').set('Origin', latch.issuer).expect(200);
      expect((await silent(phone)).location.searchParams.get('error')).to.equal('login_required');
      expect((await refresh(latch, { clientId: web }, tokens.refresh_token!)).body.error).to.equal('invalid_grant');
    });

    it('deleting the account ends its sessions and tokens and it can no longer sign in', async () => {
      const email3 = 'leaving@example.com';
      const { id } = await signUpAccount(latch, email3);
      const a = agent();
      const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email: email3, scope: 'openid offline_access', params: { prompt: 'consent' } });
      await a.delete('/api/v1/me').set('Origin', latch.issuer).expect(204);
      expect(await countRows(latch, 'accounts', { id })).to.equal(0);
      expect(await countRows(latch, 'oidc_payloads', { account_id: id })).to.equal(0);
      expect((await introspect(latch, { clientId: web }, tokens.access_token)).active).to.equal(false);
      expect((await refresh(latch, { clientId: web }, tokens.refresh_token!)).body.error).to.equal('invalid_grant');
      expect((await silent(a)).location.searchParams.get('error')).to.equal('login_required');
      const b = agent();
      const { uid, csrf } = await openSignIn(latch, b, { clientId: web, redirectUri });
      const again = await b.post(`/interaction/${uid}/login`).type('form').send({ email: email3, password: PASSWORD, _csrf: csrf });
      expect(again.status).to.equal(400);
      expect(again.text).to.include('do not match an account');
    });

    it('a disabled account\'s refresh tokens and API access stop working', async () => {
      const email4 = 'disabled-later@example.com';
      const { id } = await signUpAccount(latch, email4);
      const a = agent();
      const { tokens } = await tokensFor(latch, a, { clientId: web, redirectUri, email: email4, scope: 'openid offline_access', params: { prompt: 'consent' } });
      await a.get('/api/v1/me').expect(200);
      await createAdminCommands(latch.container)['users.disable']({ user: id });
      expect((await refresh(latch, { clientId: web }, tokens.refresh_token!)).status).to.equal(400);
      expect((await a.get('/api/v1/me')).status).to.equal(401);
    });

    it('changing second factors needs a sign-in from the last five minutes', async () => {
      const email5 = 'factors@example.com';
      await signUpAccount(latch, email5);
      const a = agent();
      const run = await authorize(latch, a, { clientId: web, redirectUri, email: email5 });
      const sid = run.responses.map(sessionCookie).filter(Boolean).at(-1)!;
      const same = { Origin: latch.issuer };
      expect((await a.post('/api/v1/mfa/totp').set(same)).status).to.equal(201);

      // the same session ten minutes later (its sign-in time moved back, as the clock would)
      const row = await latch.container.knex('oidc_payloads').where({ model: 'Session', id: sid }).first();
      const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
      payload.loginTs -= 10 * 60;
      await latch.container.knex('oidc_payloads').where({ model: 'Session', id: sid }).update({ payload: JSON.stringify(payload) });
      for (const [method, path] of [['post', '/api/v1/mfa/totp'], ['delete', '/api/v1/mfa/totp']] as const) {
        const res = await a[method](path).set(same);
        expect(res.status, path).to.equal(403);
        expect(res.body.error, path).to.equal('reauthentication_required');
      }
      // reading is still fine, and signing in again makes changes possible again
      expect((await a.get('/api/v1/mfa')).status).to.equal(200);
      await authorize(latch, a, { clientId: web, redirectUri, email: email5, params: { prompt: 'login' } });
      expect((await a.post('/api/v1/mfa/totp').set(same)).status).to.equal(201);
    });

    it('a session cookie and its server row end at LATCH_SESSION_TTL (2 h here)', async () => {
      const a = agent();
      const run = await authorize(latch, a, { clientId: web, redirectUri, email, params: { prompt: 'login' } });
      const set = run.responses.map((r) => setCookies(r).get('_session')).filter(Boolean).at(-1)!;
      const expires = set.attributes.find((x) => x.startsWith('expires='));
      expect(expires).to.be.a('string');
      expect(new Date(expires!.slice(8)).getTime() - Date.now()).to.be.within(0, 2 * 3600_000 + 5_000);
      const row = await latch.container.knex('oidc_payloads').where({ model: 'Session', id: set.value }).first();
      expect(new Date(row.expires_at).getTime() - Date.now()).to.be.within(0, 2 * 3600_000 + 5_000);
    });
  });

  describe('SECURITY E.35 — cookies: HttpOnly, SameSite=Lax, signed; proxy headers not trusted by default', () => {
    it('every cookie set during sign-in is HttpOnly and SameSite=Lax, and each has a signature', async () => {
      const run = await authorize(latch, agent(), { clientId: web, redirectUri, email, params: { prompt: 'login' } });
      const all = new Map<string, { value: string; attributes: string[] }>();
      for (const r of run.responses) for (const [k, v] of setCookies(r)) all.set(k, v);
      for (const name of ['_session', '_interaction', '_interaction_resume', 'latch.csrf']) expect([...all.keys()], name).to.include(name);
      for (const [name, cookie] of all) {
        expect(cookie.attributes, name).to.include('httponly');
        expect(cookie.attributes, name).to.include('samesite=lax');
        if (!name.endsWith('.sig')) expect(all.has(`${name}.sig`), `${name}.sig`).to.equal(true);
      }
    });

    it('a tampered session cookie or signature is ignored', async () => {
      const a = agent();
      const run = await authorize(latch, a, { clientId: web, redirectUri, email, params: { prompt: 'login' } });
      const last = run.responses.filter((r) => setCookies(r).has('_session')).at(-1)!;
      const { value } = setCookies(last).get('_session')!;
      const sig = setCookies(last).get('_session.sig')!.value;
      expect(errorOf(await silentWithCookies(`_session=${value}; _session.sig=${sig}`))).to.equal(null);
      const flip = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
      expect(errorOf(await silentWithCookies(`_session=${flip(value)}; _session.sig=${sig}`))).to.equal('login_required');
      expect(errorOf(await silentWithCookies(`_session=${value}; _session.sig=${flip(sig)}`))).to.equal('login_required');
      expect(errorOf(await silentWithCookies(`_session=${value}`))).to.equal('login_required');
    });

    it('X-Forwarded-Proto does not make Latch believe it is on https when no proxy is configured', async () => {
      const res = await request(latch.url).get('/device').set('X-Forwarded-Proto', 'https').expect(200);
      expect(setCookies(res).get('_session')!.attributes).not.to.include('secure');
    });
  });

  describe('SECURITY E.36 — CSRF: token plus Origin / Sec-Fetch-Site on every state-changing form; no change on GET', () => {
    const hostile: Array<[string, Record<string, string>, boolean]> = [
      ['Origin https://evil.example', { Origin: 'https://evil.example' }, true],
      ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }, true],
      ['Sec-Fetch-Site: same-site from an untrusted origin', { 'Sec-Fetch-Site': 'same-site', Origin: 'https://sub.localhost.example' }, true],
      ['Origin: null without Fetch Metadata', { Origin: 'null' }, true],
      ['a missing _csrf', {}, false],
    ];

    it('sign-in: every cross-site or tokenless attempt gets 403 and signs nobody in; a same-origin one works', async () => {
      const a = agent();
      const { uid, csrf } = await openSignIn(latch, a, { clientId: web, redirectUri });
      for (const [label, headers, withToken] of hostile) {
        const res = await a.post(`/interaction/${uid}/login`).set(headers).type('form').send({ email, password: PASSWORD, ...(withToken ? { _csrf: csrf } : {}) });
        expect(res.status, label).to.equal(403);
        expect(res.headers, label).not.to.have.property('location');
      }
      const forged = await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: 'forged-token' });
      expect(forged.status).to.equal(403);
      // a token minted for another browser's secret does not work here either
      const other = await openSignIn(latch, agent(), { clientId: web, redirectUri });
      expect((await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: other.csrf })).status).to.equal(403);
      expect(interactionForm((await a.get(`/interaction/${uid}`)).text)?.step).to.equal('login');

      const ok = await a.post(`/interaction/${uid}/login`).set({ Origin: latch.issuer, 'Sec-Fetch-Site': 'same-origin' }).type('form').send({ email, password: PASSWORD, _csrf: csrf });
      expect(ok.status).to.equal(303);
    });

    it('sign-up, consent and cancel: refused cross-site, nothing written', async () => {
      const a = agent();
      const { uid } = await openSignIn(latch, a, { clientId: web, redirectUri, scope: 'openid profile' });
      const form = await a.get(`/interaction/${uid}/signup`).expect(200);
      const csrf = csrfFrom(form.text);
      const accounts = await countRows(latch, 'accounts');
      for (const [label, headers, withToken] of hostile) {
        const signUp = await a.post(`/interaction/${uid}/signup`).set(headers).type('form').send({ email: 'csrf-victim@example.com', password: 'a long enough passphrase', ...(withToken ? { _csrf: csrf } : {}) });
        expect(signUp.status, label).to.equal(403);
        const abort = await a.post(`/interaction/${uid}/abort`).set(headers).type('form').send(withToken ? { _csrf: csrf } : {});
        expect(abort.status, label).to.equal(403);
      }
      expect(await countRows(latch, 'accounts')).to.equal(accounts);
      expect(interactionForm((await a.get(`/interaction/${uid}`)).text)?.step).to.equal('login');

      // reach the consent page, then try to answer it from another site
      const signIn = await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: csrf });
      let page = await a.get(latchPath(latch, signIn.headers.location!)!);
      page = await a.get(latchPath(latch, page.headers.location!)!);
      const consent = interactionForm(page.text)!;
      expect(consent.step).to.equal('consent');
      const before = await latch.container.knex('consents').where({ account_id: accountId, client_id: web }).first();
      for (const [label, headers, withToken] of hostile) {
        const res = await a.post(`/interaction/${consent.uid}/consent`).set(headers).type('form').send({ decision: 'allow', ...(withToken ? { _csrf: csrfFrom(page.text) } : {}) });
        expect(res.status, label).to.equal(403);
      }
      const after = await latch.container.knex('consents').where({ account_id: accountId, client_id: web }).first();
      expect(after?.scopes ?? null).to.deep.equal(before?.scopes ?? null);
      expect(interactionForm((await a.get(`/interaction/${consent.uid}`)).text)?.step).to.equal('consent');
    });

    it('forgot, reset and verify: refused cross-site, no token issued or spent, no password or address changed', async () => {
      const victim = 'csrf-reset@example.com';
      const { id } = await signUpAccount(latch, victim);
      const a = agent();
      const page = await a.get('/forgot-password').expect(200);
      const csrf = csrfFrom(page.text);
      const tokens = await countRows(latch, 'email_tokens', { account_id: id, purpose: 'reset-password' });
      for (const [label, headers, withToken] of hostile) {
        const res = await a.post('/forgot-password').set(headers).type('form').send({ email: victim, ...(withToken ? { _csrf: csrf } : {}) });
        expect(res.status, label).to.equal(403);
      }
      expect(await countRows(latch, 'email_tokens', { account_id: id, purpose: 'reset-password' })).to.equal(tokens);

      // with real mailed tokens in the request, a cross-site post still spends and changes nothing
      const token = (link: string) => new URL(link).searchParams.get('token')!;
      const verifyToken = token(mailbox.linkIn(await mailbox.next(victim), '/verify-email?token='));
      await latch.container.accounts.requestPasswordReset(victim, { ip: 'test-reset' });
      const resetToken = token(mailbox.linkIn(await mailbox.next(victim), '/reset-password?token='));
      const hash = (await latch.container.knex('accounts').where({ id }).first()).password_hash;
      for (const [label, headers, withToken] of hostile) {
        const reset = await a.post('/reset-password').set(headers).type('form').send({ token: resetToken, password: 'attacker chosen pass', ...(withToken ? { _csrf: csrf } : {}) });
        expect(reset.status, label).to.equal(403);
        const verify = await a.post('/verify-email').set(headers).type('form').send({ token: verifyToken, ...(withToken ? { _csrf: csrf } : {}) });
        expect(verify.status, label).to.equal(403);
      }
      expect((await latch.container.knex('accounts').where({ id }).first()).password_hash).to.equal(hash);
      expect(await latch.container.accounts.peekPasswordReset(resetToken)).to.equal(true);
      expect(await latch.container.accounts.peekEmailVerification(verifyToken)).not.to.equal(undefined);
      expect((await latch.container.accounts.findById(id))!.emailVerified).to.equal(false);
    });

    it('cookie-authenticated API writes must come from a trusted origin', async () => {
      const a = await signedIn();
      for (const headers of [{ Origin: 'https://evil.example' }, { 'Sec-Fetch-Site': 'cross-site' }, {}, { Origin: 'null' }]) {
        const res = await a.post('/api/v1/sessions/end-all').set(headers);
        expect(res.status, JSON.stringify(headers)).to.equal(403);
        expect(res.body.error).to.equal('csrf_failed');
      }
      expect((await silent(a)).code).to.be.a('string');
      expect((await a.post('/api/v1/sessions/end-all').set('Sec-Fetch-Site', 'same-origin')).status).to.equal(200);
    });

    it('GET never changes state: no sign-in, consent, cancel or logout through a link', async () => {
      const a = await signedIn();
      const { uid } = await openSignIn(latch, a, { clientId: web, redirectUri, params: { prompt: 'login' } });
      for (const step of ['login', 'consent', 'abort', 'signup']) {
        const res = await a.get(`/interaction/${uid}/${step}`).query({ email, password: PASSWORD, decision: 'allow' });
        expect(res.status, step).to.be.oneOf(step === 'signup' ? [200] : [404, 405]);
      }
      expect(interactionForm((await a.get(`/interaction/${uid}`)).text)?.step).to.equal('login');
      expect((await a.get('/session/end/confirm').query({ logout: 'yes' })).status).to.be.within(400, 499);
      expect((await silent(a)).code).to.be.a('string');
    });
  });

  describe('SECURITY E.37 — CSP with nonces, frame-ancestors none, nosniff, no-referrer, no-store; everything escaped', () => {
    function expectHardened(res: request.Response, label: string) {
      const csp = res.headers['content-security-policy'] as string;
      expect(csp, label).to.be.a('string');
      expect(csp, label).to.match(/script-src 'self' 'nonce-[A-Za-z0-9+/=]{16,}'/);
      expect(csp, label).to.include("frame-ancestors 'none'");
      expect(csp, label).to.include("object-src 'none'");
      expect(csp, label).to.include("base-uri 'none'");
      expect(csp, label).not.to.include('unsafe-inline');
      expect(csp, label).not.to.include('unsafe-eval');
      expect(res.headers['x-content-type-options'], label).to.equal('nosniff');
      expect(res.headers['referrer-policy'], label).to.equal('no-referrer');
      expect(res.headers['x-frame-options'], label).to.equal('DENY');
      expect(res.headers['cache-control'], label).to.equal('no-store');
      expect(res.headers, label).not.to.have.property('strict-transport-security');
      return csp;
    }

    it('every hosted page carries the headers, with a fresh nonce each time', async () => {
      const a = agent();
      const { uid, page: login } = await openSignIn(latch, a, { clientId: web, redirectUri, scope: 'openid email profile offline_access', params: { prompt: 'consent' } });
      const pages: Array<[string, request.Response]> = [['sign-in', login], ['sign-up', await a.get(`/interaction/${uid}/signup`)]];
      const failed = await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: 'wrong password', _csrf: csrfFrom(login.text) });
      pages.push(['sign-in error', failed]);
      const ok = await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: csrfFrom(login.text) });
      let consent = await a.get(latchPath(latch, ok.headers.location!)!);
      consent = await a.get(latchPath(latch, consent.headers.location!)!);
      pages.push(['consent', consent]);
      pages.push(['forgot password', await a.get('/forgot-password')]);
      pages.push(['reset password (expired link)', await a.get('/reset-password').query({ token: 'nope' })]);
      pages.push(['verify e-mail (expired link)', await a.get('/verify-email').query({ token: 'nope' })]);
      const device = await a.get('/device');
      pages.push(['device code entry', device]);
      pages.push(['device code error', await a.post('/device').type('form').send({ xsrf: xsrfFrom(device.text), user_code: 'BBBB-BBBB' })]);
      pages.push(['logout', await a.get('/session/end')]);
      pages.push(['authorization error', await a.get('/auth').query({ client_id: 'nobody' })]);
      pages.push(['expired interaction', await agent().get(`/interaction/${uid}`)]);
      pages.push(['csrf refusal', await agent().post('/forgot-password').type('form').send({ email })]);
      const nonces = new Set<string>();
      for (const [label, res] of pages) {
        expect(res.type, label).to.equal('text/html');
        const csp = expectHardened(res, label);
        nonces.add(/'nonce-([^']+)'/.exec(csp)![1]!);
        expect(res.text, label).not.to.match(/<script(?![^>]*\bnonce=)[^>]*>[^<]+<\/script>/);
      }
      expect(nonces.size).to.equal(pages.length);
    });

    it('client names, e-mail addresses, login hints, names and user codes are escaped', async () => {
      const evil = '<script>alert(1)</script>';
      const reg = await request(latch.url).post('/reg').send({ client_name: `Evil ${evil}`, redirect_uris: ['https://evil-app.example.com/cb'], token_endpoint_auth_method: 'none' }).expect(201);
      const a = agent();
      const { uid, page, csrf } = await openSignIn(latch, a, { clientId: reg.body.client_id, redirectUri: 'https://evil-app.example.com/cb', params: { login_hint: `"><img src=x onerror=alert(2)>` } });
      const texts: Array<[string, string]> = [['sign-in page', page.text]];
      texts.push(['sign-up page', (await a.get(`/interaction/${uid}/signup`)).text]);
      const badEmail = await a.post(`/interaction/${uid}/login`).type('form').send({ email: `"><svg onload=alert(3)>@x.example`, password: 'whatever', _csrf: csrf });
      texts.push(['sign-in error', badEmail.text]);
      const badSignUp = await a.post(`/interaction/${uid}/signup`).type('form').send({ name: `<b onmouseover=alert(4)>Mallory</b>`, email: 'not-an-address', password: 'x', _csrf: csrf });
      texts.push(['sign-up error', badSignUp.text]);
      const signIn = await a.post(`/interaction/${uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: csrf });
      let consent = await a.get(latchPath(latch, signIn.headers.location!)!);
      consent = await a.get(latchPath(latch, consent.headers.location!)!);
      expect(consent.text).to.include('Allow access?');
      texts.push(['consent page', consent.text]);
      const device = await a.get('/device');
      texts.push(['device page', (await a.post('/device').type('form').send({ xsrf: xsrfFrom(device.text), user_code: `${evil}"><img src=x onerror=alert(5)>` })).text]);
      const forgot = await a.get('/forgot-password');
      texts.push(['forgot password', (await a.post('/forgot-password').type('form').send({ email: `<img src=x onerror=alert(6)>`, _csrf: csrfFrom(forgot.text) })).text]);

      for (const [label, html] of texts) {
        expect(html, label).not.to.include(evil);
        expect(html, label).not.to.match(/<(img|svg|b) [^>]*on\w+=/i);
      }
      expect(page.text).to.include('Evil &lt;script&gt;alert(1)&lt;/script&gt;');
      expect(consent.text).to.include('Evil &lt;script&gt;alert(1)&lt;/script&gt;');
    });
  });
});

describe('SECURITY E.35 / E.37 — behind a TLS-terminating proxy with an https ISSUER', function () {
  let latch: TestLatch;
  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch({ ISSUER: 'https://id.example.test', LATCH_TRUST_PROXY: 'true' });
  });
  after(() => latch.close());
  const https = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'id.example.test' };

  it('cookies are Secure, and HSTS is sent', async () => {
    const forgot = await request(latch.url).get('/forgot-password').set(https).expect(200);
    const device = await request(latch.url).get('/device').set(https).expect(200);
    const csrf = setCookies(forgot).get('latch.csrf')!;
    expect(csrf.attributes).to.include.members(['secure', 'httponly', 'samesite=lax']);
    expect(setCookies(device).get('_session')!.attributes).to.include.members(['secure', 'httponly', 'samesite=lax']);
    for (const res of [forgot, device]) {
      expect(res.headers['strict-transport-security']).to.match(/max-age=\d{7,}/);
    }
  });

  it('the helper sends HSTS only for an https issuer', async () => {
    const headersFor = async (issuer: string) => {
      const app = new Koa();
      app.use(securityHeaders({ issuer }));
      app.use((ctx) => {
        ctx.body = 'ok';
      });
      return (await request(app.callback()).get('/')).headers;
    };
    expect((await headersFor('https://id.example.com'))['strict-transport-security']).to.match(/max-age=31536000; includeSubDomains/);
    expect(await headersFor('http://localhost:3000')).not.to.have.property('strict-transport-security');
  });
});
