import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';
import { countRows, csrfFrom, drive, interactionForm, latchPath, openSignIn, signUpAccount, xsrfFrom, PASSWORD, type Agent } from '../support/flow.js';

/**
 * Hostile input to every hosted form: missing fields, arrays and repeated fields instead of
 * strings, 10 MB fields, HTML, NUL bytes, a wrong CSRF token, JSON instead of a form, another
 * browser's interaction id. Each gets a clear 4xx page with a message — never a 5xx — and no
 * account is half-made.
 */
const redirectUri = 'https://app.example.com/cb';
const HUGE = 'a'.repeat(10 * 1024 * 1024);
const HTML = '<script>alert(1)</script>';

type Form = { agent: Agent; uid: string; csrf: string };
type Case = { label: string; send: (f: Form, other: Form) => request.Test };

/** Urlencoded body from pairs, so a test can repeat a key or use bracket syntax. */
const raw = (pairs: Array<[string, string]>) => pairs.map(([k, v]) => `${encodeURIComponent(k).replace(/%5B%5D/g, '[]')}=${encodeURIComponent(v)}`).join('&');

function expectClear4xx(res: request.Response, label: string) {
  expect(res.status, `${label}: ${res.text?.slice(0, 200)}`).to.be.within(400, 499);
  expect(res.type, label).to.equal('text/html');
  expect(res.text, label).to.match(/role="(alert|status)"[^>]*>\s*[^<\s][^<]{4,}/);
  expect(res.text, label).not.to.include(HTML);
}

describe('hostile input to the hosted forms', function () {
  let latch: TestLatch;
  let clientId: string;
  const owner = 'owner@example.com';

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    ({ clientId } = await latch.container.clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri] }));
    await signUpAccount(latch, owner);
  });
  after(() => latch.close());

  const accounts = () => countRows(latch, 'accounts');

  async function signInForm(): Promise<Form> {
    const agent = request.agent(latch.url);
    const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri });
    return { agent, uid, csrf };
  }

  /** Interaction-bound cases shared by sign-in, sign-up, consent and cancel. */
  const browserCases = (step: string, fields: Record<string, string>): Case[] => [
    { label: 'a wrong CSRF token', send: (f) => f.agent.post(`/interaction/${f.uid}/${step}`).type('form').send({ ...fields, _csrf: 'not-the-token' }) },
    { label: 'no CSRF token', send: (f) => f.agent.post(`/interaction/${f.uid}/${step}`).type('form').send(fields) },
    { label: 'a 10 MB field', send: (f) => f.agent.post(`/interaction/${f.uid}/${step}`).type('form').send(raw([...Object.entries(fields), ['_csrf', f.csrf], ['filler', HUGE]])) },
    { label: 'JSON without the token', send: (f) => f.agent.post(`/interaction/${f.uid}/${step}`).set('Content-Type', 'application/json').send(JSON.stringify(fields)) },
    { label: 'broken JSON', send: (f) => f.agent.post(`/interaction/${f.uid}/${step}`).set('Content-Type', 'application/json').send(`{"_csrf":"${f.csrf}",`) },
    { label: "another browser's interaction id", send: (f, other) => f.agent.post(`/interaction/${other.uid}/${step}`).type('form').send({ ...fields, _csrf: f.csrf }) },
  ];

  describe('sign-in', () => {
    const cases: Case[] = [
      ...browserCases('login', { email: owner, password: PASSWORD }),
      { label: 'missing fields', send: (f) => f.agent.post(`/interaction/${f.uid}/login`).type('form').send({ _csrf: f.csrf }) },
      { label: 'arrays instead of strings', send: (f) => f.agent.post(`/interaction/${f.uid}/login`).type('form').send(raw([['email[]', owner], ['email[]', 'b@example.com'], ['password[]', PASSWORD], ['password[]', 'x'], ['_csrf', f.csrf]])) },
      { label: 'repeated fields', send: (f) => f.agent.post(`/interaction/${f.uid}/login`).type('form').send(raw([['email', owner], ['email', 'b@example.com'], ['password', PASSWORD], ['password', PASSWORD], ['_csrf', f.csrf]])) },
      { label: 'HTML in the e-mail', send: (f) => f.agent.post(`/interaction/${f.uid}/login`).type('form').send({ email: `${HTML}@x.example`, password: 'x', _csrf: f.csrf }) },
      { label: 'a NUL byte in the password', send: (f) => f.agent.post(`/interaction/${f.uid}/login`).type('form').send({ email: owner, password: `${PASSWORD}\u0000`, _csrf: f.csrf }) },
      { label: 'JSON with objects for strings', send: (f) => f.agent.post(`/interaction/${f.uid}/login`).send({ email: { $ne: null }, password: [PASSWORD], _csrf: f.csrf }) },
    ];
    for (const c of cases) {
      it(`${c.label} → a clear 4xx page; nobody signed in`, async () => {
        const f = await signInForm();
        const other = await signInForm();
        const res = await c.send(f, other);
        expectClear4xx(res, c.label);
        expect(res.headers, c.label).not.to.have.property('location');
        expect(interactionForm((await f.agent.get(`/interaction/${f.uid}`)).text)?.step, c.label).to.equal('login');
        expect(interactionForm((await other.agent.get(`/interaction/${other.uid}`)).text)?.step, c.label).to.equal('login');
      });
    }
  });

  describe('sign-up', () => {
    const valid = { name: 'Mallory', email: 'newcomer@example.com', password: 'a long enough passphrase' };
    const cases: Case[] = [
      ...browserCases('signup', valid),
      { label: 'missing fields', send: (f) => f.agent.post(`/interaction/${f.uid}/signup`).type('form').send({ _csrf: f.csrf }) },
      { label: 'arrays instead of strings', send: (f) => f.agent.post(`/interaction/${f.uid}/signup`).type('form').send(raw([['email[]', 'a@example.com'], ['email[]', 'b@example.com'], ['password[]', valid.password], ['password[]', valid.password], ['_csrf', f.csrf]])) },
      { label: 'repeated fields', send: (f) => f.agent.post(`/interaction/${f.uid}/signup`).type('form').send(raw([['email', 'a@example.com'], ['email', 'b@example.com'], ['password', valid.password], ['_csrf', f.csrf]])) },
      { label: 'HTML in the e-mail', send: (f) => f.agent.post(`/interaction/${f.uid}/signup`).type('form').send({ ...valid, email: `${HTML}@x.example`, _csrf: f.csrf }) },
      { label: 'a NUL byte in the e-mail', send: (f) => f.agent.post(`/interaction/${f.uid}/signup`).type('form').send({ ...valid, email: 'nul\u0000@example.com', _csrf: f.csrf }) },
      { label: 'JSON with objects for strings', send: (f) => f.agent.post(`/interaction/${f.uid}/signup`).send({ email: { $gt: '' }, password: [valid.password], name: { toString: 1 }, _csrf: f.csrf }) },
    ];
    for (const c of cases) {
      it(`${c.label} → a clear 4xx page; no account`, async () => {
        const f = await signInForm();
        const other = await signInForm();
        const form = await f.agent.get(`/interaction/${f.uid}/signup`).expect(200);
        f.csrf = csrfFrom(form.text);
        const before = await accounts();
        const res = await c.send(f, other);
        expectClear4xx(res, c.label);
        expect(await accounts(), c.label).to.equal(before);
      });
    }

    it('HTML in the name is kept as text and shown escaped, the account is whole', async () => {
      const f = await signInForm();
      const form = await f.agent.get(`/interaction/${f.uid}/signup`).expect(200);
      const before = await accounts();
      const res = await f.agent.post(`/interaction/${f.uid}/signup`).type('form').send({ name: HTML, email: 'html-name@example.com', password: 'a long enough passphrase', _csrf: csrfFrom(form.text) });
      expect(res.status).to.equal(200);
      expect(res.text).not.to.include(HTML);
      expect(await accounts()).to.equal(before + 1);
      const row = await latch.container.knex('accounts').where({ email_normalized: 'html-name@example.com' }).first();
      expect(row.name).to.equal(HTML);
      expect(row.password_hash).to.match(/^\$argon2id\$/);
    });
  });

  describe('consent', () => {
    const consenter = 'consenter@example.com';
    before(() => signUpAccount(latch, consenter));

    async function consentForm(): Promise<Form> {
      const agent = request.agent(latch.url);
      const { uid, csrf } = await openSignIn(latch, agent, { clientId, redirectUri, scope: 'openid profile', params: { prompt: 'consent' } });
      const signIn = await agent.post(`/interaction/${uid}/login`).type('form').send({ email: consenter, password: PASSWORD, _csrf: csrf });
      let page = await agent.get(latchPath(latch, signIn.headers.location!)!);
      page = await agent.get(latchPath(latch, page.headers.location!)!);
      const form = interactionForm(page.text);
      if (form?.step !== 'consent') throw new Error(`no consent page: ${page.status}`);
      return { agent, uid: form.uid, csrf: csrfFrom(page.text) };
    }

    const refused: Case[] = browserCases('consent', { decision: 'allow' });
    for (const c of refused) {
      it(`${c.label} → a clear 4xx page; nothing allowed`, async () => {
        const f = await consentForm();
        const other = await consentForm();
        const res = await c.send(f, other);
        expectClear4xx(res, c.label);
        expect(await countRows(latch, 'consents', { client_id: clientId })).to.equal(0);
        expect(interactionForm((await other.agent.get(`/interaction/${other.uid}`)).text)?.step).to.equal('consent');
      });
    }

    // anything but a plain decision=allow is a "no": the app hears access_denied, nothing is granted
    const notAllow: Case[] = [
      { label: 'missing fields', send: (f) => f.agent.post(`/interaction/${f.uid}/consent`).type('form').send({ _csrf: f.csrf }) },
      { label: 'arrays instead of strings', send: (f) => f.agent.post(`/interaction/${f.uid}/consent`).type('form').send(raw([['decision[]', 'allow'], ['decision[]', 'allow'], ['_csrf', f.csrf]])) },
      { label: 'repeated fields', send: (f) => f.agent.post(`/interaction/${f.uid}/consent`).type('form').send(raw([['decision', 'allow'], ['decision', 'allow'], ['_csrf', f.csrf]])) },
      { label: 'HTML in the decision', send: (f) => f.agent.post(`/interaction/${f.uid}/consent`).type('form').send({ decision: HTML, _csrf: f.csrf }) },
      { label: 'a NUL byte in the decision', send: (f) => f.agent.post(`/interaction/${f.uid}/consent`).type('form').send({ decision: 'allow\u0000', _csrf: f.csrf }) },
      { label: 'JSON with an object for the decision', send: (f) => f.agent.post(`/interaction/${f.uid}/consent`).send({ decision: ['allow'], _csrf: f.csrf }) },
    ];
    for (const c of notAllow) {
      it(`${c.label} → treated as Deny; nothing allowed`, async () => {
        const f = await consentForm();
        const res = await c.send(f, f);
        expect(res.status, c.label).to.be.oneOf([303, 400]);
        if (res.status === 303) {
          const done = await drive(latch, f.agent, res);
          expect(done.location?.searchParams.get('error'), c.label).to.equal('access_denied');
        } else expectClear4xx(res, c.label);
        expect(await countRows(latch, 'consents', { client_id: clientId })).to.equal(0);
      });
    }
  });

  describe('cancel', () => {
    for (const c of browserCases('abort', {})) {
      it(`${c.label} → a clear 4xx page; the request goes on`, async () => {
        const f = await signInForm();
        const other = await signInForm();
        const res = await c.send(f, other);
        expectClear4xx(res, c.label);
        expect(interactionForm((await f.agent.get(`/interaction/${f.uid}`)).text)?.step).to.equal('login');
        expect(interactionForm((await other.agent.get(`/interaction/${other.uid}`)).text)?.step).to.equal('login');
      });
    }
  });

  describe('forgot, reset and verify', () => {
    async function pageForm(path: string): Promise<Form> {
      const agent = request.agent(latch.url);
      const page = await agent.get(path);
      return { agent, uid: '', csrf: csrfFrom(page.text) };
    }
    const forms: Array<[string, Record<string, string>]> = [
      ['/forgot-password', { email: owner }],
      ['/reset-password', { token: 'x'.repeat(43), password: 'a long enough passphrase' }],
      ['/verify-email', { token: 'x'.repeat(43) }],
    ];
    for (const [path, fields] of forms) {
      const first = Object.keys(fields)[0]!;
      const cases: Case[] = [
        { label: 'missing fields', send: (f) => f.agent.post(path).type('form').send({ _csrf: f.csrf }) },
        { label: 'arrays instead of strings', send: (f) => f.agent.post(path).type('form').send(raw([...Object.keys(fields).flatMap((k) => [[`${k}[]`, fields[k]!], [`${k}[]`, 'b']] as Array<[string, string]>), ['_csrf', f.csrf]])) },
        { label: 'repeated fields', send: (f) => f.agent.post(path).type('form').send(raw([...Object.keys(fields).flatMap((k) => [[k, fields[k]!], [k, fields[k]!]] as Array<[string, string]>), ['_csrf', f.csrf]])) },
        { label: 'a 10 MB field', send: (f) => f.agent.post(path).type('form').send(raw([[first, HUGE], ['_csrf', f.csrf]])) },
        { label: 'HTML in a field', send: (f) => f.agent.post(path).type('form').send({ ...fields, [first]: HTML, _csrf: f.csrf }) },
        { label: 'a NUL byte in a field', send: (f) => f.agent.post(path).type('form').send({ ...fields, [first]: `${fields[first]}\u0000`, _csrf: f.csrf }) },
        { label: 'a wrong CSRF token', send: (f) => f.agent.post(path).type('form').send({ ...fields, _csrf: 'not-the-token' }) },
        { label: 'JSON without the token', send: (f) => f.agent.post(path).set('Content-Type', 'application/json').send(JSON.stringify(fields)) },
        { label: 'JSON with objects for strings', send: (f) => f.agent.post(path).send({ [first]: { $ne: null }, _csrf: f.csrf }) },
      ];
      for (const c of cases) {
        it(`${path}: ${c.label} → a clear 4xx page; nothing changes`, async () => {
          const f = await pageForm('/forgot-password');
          const tokens = await countRows(latch, 'email_tokens');
          const hashes = await latch.container.knex('accounts').select('password_hash').orderBy('id');
          const res = await c.send(f, f);
          expectClear4xx(res, `${path} ${c.label}`);
          expect(await countRows(latch, 'email_tokens')).to.equal(tokens);
          expect(await latch.container.knex('accounts').select('password_hash').orderBy('id')).to.deep.equal(hashes);
        });
      }
    }
  });

  describe('device code entry', () => {
    async function deviceForm(): Promise<Form> {
      const agent = request.agent(latch.url);
      const page = await agent.get('/device').expect(200);
      return { agent, uid: '', csrf: xsrfFrom(page.text) };
    }
    const cases: Case[] = [
      { label: 'missing fields', send: (f) => f.agent.post('/device').type('form').send({}) },
      { label: 'no code', send: (f) => f.agent.post('/device').type('form').send({ xsrf: f.csrf }) },
      { label: 'arrays instead of strings', send: (f) => f.agent.post('/device').type('form').send(raw([['xsrf', f.csrf], ['user_code[]', 'BBBB-BBBB'], ['user_code[]', 'CCCC-CCCC']])) },
      { label: 'repeated fields', send: (f) => f.agent.post('/device').type('form').send(raw([['xsrf', f.csrf], ['user_code', 'BBBB-BBBB'], ['user_code', 'CCCC-CCCC']])) },
      { label: 'a 10 MB field', send: (f) => f.agent.post('/device').type('form').send(raw([['xsrf', f.csrf], ['user_code', HUGE]])) },
      { label: 'HTML in the code', send: (f) => f.agent.post('/device').type('form').send({ xsrf: f.csrf, user_code: HTML }) },
      { label: 'a NUL byte in the code', send: (f) => f.agent.post('/device').type('form').send({ xsrf: f.csrf, user_code: 'BBBB\u0000BBBB' }) },
      { label: 'a wrong xsrf token', send: (f) => f.agent.post('/device').type('form').send({ xsrf: 'not-the-token', user_code: 'BBBB-BBBB' }) },
      { label: 'JSON instead of a form', send: (f) => f.agent.post('/device').send({ xsrf: f.csrf, user_code: 'BBBB-BBBB' }) },
    ];
    for (const c of cases) {
      it(`${c.label} → a clear 4xx page`, async () => {
        const res = await c.send(await deviceForm(), await deviceForm());
        expectClear4xx(res, c.label);
        expect(res.text).to.include('name="xsrf"');
      });
    }
  });
});
