import { expect } from 'chai';
import { generate } from 'otplib';
import request from 'supertest';
import { createPerson, openSignedIn, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { startMailbox } from '../support/smtp.js';

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

/** /account: signing in through the hosted pages, then changing things with forms. */
describe('account pages', () => {
  let latch: TestLatch;
  let person: Person;

  before(async () => {
    latch = await startLatch();
    person = await createPerson(latch, 'page@example.com', { name: 'Page Owner' });
  });
  after(() => latch.close());

  /** Follows redirects like a browser, signing in when the sign-in form appears. */
  const visit = (agent: ReturnType<typeof request.agent>, path: string) => openSignedIn(latch, agent, person, path);

  it('asks for sign-in through the hosted pages (no consent for the account pages), then shows the account', async () => {
    const agent = request.agent(latch.url);
    const first = await agent.get('/account').expect(303);
    expect(first.headers.location).to.match(/\/auth\?client_id=latch-account&/);
    const page = await visit(agent, '/account');
    expect(page.status).to.equal(200);
    expect(page.text).to.include('Your account');
    expect(page.text).to.include(person.email);
    expect(page.text).to.include('Page Owner&#39;s organization');
    expect(page.headers['cache-control']).to.equal('no-store');
  });

  it('changes the profile, creates and switches organizations, and signs out everywhere with forms', async () => {
    const agent = request.agent(latch.url);
    let page = await visit(agent, '/account');
    await agent.post('/account/profile').type('form').send({ _csrf: csrfOf(page.text), name: 'Renamed <b>' }).expect(303);
    page = await visit(agent, '/account?done=profile');
    expect(page.text).to.include('Your profile was saved.');
    expect(page.text).to.include('Renamed &lt;b&gt;');

    await agent.post('/account/orgs').type('form').send({ _csrf: csrfOf(page.text), name: 'Page Org' }).expect(303);
    const orgs = await latch.container.orgs.list(person.id);
    const created = orgs.find((o) => o.name === 'Page Org')!;
    page = await visit(agent, '/account');
    await agent.post(`/account/orgs/${created.id}/activate`).type('form').send({ _csrf: csrfOf(page.text) }).expect(303);
    expect((await latch.container.orgs.list(person.id)).find((o) => o.active)!.id).to.equal(created.id);

    const orgPage = await visit(agent, `/account/orgs/${created.id}`);
    expect(orgPage.status).to.equal(200);
    expect(orgPage.text).to.include('Send invitation');

    page = await visit(agent, '/account');
    await agent.post('/account/sessions/end-all').type('form').send({ _csrf: csrfOf(page.text) }).expect(303);
    const after = await agent.get('/account');
    expect(after.status).to.equal(303);
    expect(after.headers.location).to.include('/auth?');
  });

  it('refuses a change without a CSRF token, from another site, or without a session; bad input re-renders with a message', async () => {
    const agent = request.agent(latch.url);
    const page = await visit(agent, '/account');
    await agent.post('/account/orgs').type('form').send({ name: 'NoToken' }).expect(403);
    await agent.post('/account/orgs').set('Sec-Fetch-Site', 'cross-site').type('form').send({ _csrf: csrfOf(page.text), name: 'Cross' }).expect(403);
    const tooLong = await agent.post('/account/orgs').type('form').send({ _csrf: csrfOf(page.text), name: 'x'.repeat(150) }).expect(400);
    expect(tooLong.text).to.include('role="alert"');
    const stranger = request.agent(latch.url);
    const strangerPage = await stranger.get('/forgot-password');
    await stranger.post('/account/orgs').type('form').send({ _csrf: csrfOf(strangerPage.text), name: 'Anon' }).expect(401);
    expect(await latch.container.knex('organizations').whereIn('name', ['NoToken', 'Cross', 'Anon']).first()).to.equal(undefined);
  });

  it('another member cannot open an organization page it does not belong to (404)', async () => {
    const other = await createPerson(latch, 'other@example.com');
    const foreign = await latch.container.orgs.create(other.id, { name: 'Foreign' });
    const agent = request.agent(latch.url);
    await visit(agent, '/account');
    const res = await agent.get(`/account/orgs/${foreign.id}`);
    expect(res.status).to.equal(404);
  });

  it('changes the password with the current one; other sessions end, this one stays', async () => {
    const changer = await createPerson(latch, 'changer@example.com');
    const saved = person;
    person = changer;
    try {
      const other = request.agent(latch.url);
      await visit(other, '/account');
      const agent = request.agent(latch.url);
      let page = await visit(agent, '/account');
      const wrong = await agent.post('/account/password').type('form').send({ _csrf: csrfOf(page.text), current_password: 'not-it-at-all', new_password: 'a new long passphrase' }).expect(400);
      expect(wrong.text).to.include('not your current password');
      page = await visit(agent, '/account');
      const weak = await agent.post('/account/password').type('form').send({ _csrf: csrfOf(page.text), current_password: changer.password, new_password: 'short' }).expect(400);
      expect(weak.text).to.include('at least 8 characters');
      page = await visit(agent, '/account');
      await agent.post('/account/password').type('form').send({ _csrf: csrfOf(page.text), current_password: changer.password, new_password: 'a new long passphrase' }).expect(303);
      expect((await agent.get('/account').expect(200)).text).to.include('Your account');
      expect((await other.get('/account')).status).to.equal(303);
      await latch.container.accounts.authenticate({ email: changer.email, password: 'a new long passphrase' }, { ip: '127.0.0.5' });
    } finally {
      person = saved;
    }
  });

  it('accepts an invitation from the mailed link, after signing in', async () => {
    const mailbox = await startMailbox();
    const own = await startLatch({ SMTP_URL: mailbox.url });
    try {
      const owner = await createPerson(own, 'owner@example.com');
      const org = await own.container.orgs.create(owner.id, { name: 'Invite Co' });
      const invitee = await createPerson(own, 'invitee@example.com');
      await own.container.orgs.invite(owner.id, org.id, { email: invitee.email, role: 'member' });
      const link = new URL(mailbox.linkIn(await mailbox.next(invitee.email, 10_000, 'You are invited to an organization'), '/account/invitations?token='));
      const agent = request.agent(own.url);
      // not signed in: the link goes through sign-in and comes back to the invitation
      let res = await agent.get(link.pathname + link.search).expect(303);
      for (let i = 0; i < 10; i += 1) {
        if (res.status === 303 || res.status === 302) {
          const next = new URL(res.headers.location!, own.url);
          res = await agent.get(next.pathname + next.search);
        } else if (/\/interaction\/[\w-]+\/login/.test(res.text)) {
          const uid = /\/interaction\/([\w-]+)\/login/.exec(res.text)![1];
          res = await agent.post(`/interaction/${uid}/login`).type('form').send({ _csrf: csrfOf(res.text), email: invitee.email, password: invitee.password });
        } else break;
      }
      expect(res.status).to.equal(200);
      expect(res.text).to.include('Join Invite Co?');
      const accepted = await agent.post('/account/invitations').type('form').send({ _csrf: csrfOf(res.text), token: link.searchParams.get('token') }).expect(303);
      expect(accepted.headers.location).to.equal(`/account/orgs/${org.id}?done=joined`);
      expect((await own.container.orgs.get(invitee.id, org.id)).role).to.equal('member');
      const again = await agent.post('/account/invitations').type('form').send({ _csrf: csrfOf(res.text), token: link.searchParams.get('token') });
      expect(again.status).to.equal(400);
    } finally {
      await own.close();
      await mailbox.close();
    }
  });

  it('deletes the account only after typing "delete"', async () => {
    const leaving = await createPerson(latch, 'leaving@example.com');
    const saved = person;
    person = leaving;
    try {
      const agent = request.agent(latch.url);
      let page = await visit(agent, '/account');
      const refused = await agent.post('/account/delete').type('form').send({ _csrf: csrfOf(page.text), confirm: 'yes' }).expect(400);
      expect(refused.text).to.include('Type &quot;delete&quot;');
      page = await visit(agent, '/account');
      const done = await agent.post('/account/delete').type('form').send({ _csrf: csrfOf(page.text), confirm: 'delete' }).expect(200);
      expect(done.text).to.include('Account deleted');
      expect(await latch.container.accounts.findById(leaving.id)).to.equal(undefined);
    } finally {
      person = saved;
    }
  });
});

describe('account pages: second factors', () => {
  let latch: TestLatch;
  let person: Person;
  before(async () => {
    latch = await startLatch();
    person = await createPerson(latch, 'secure@example.com');
  });
  after(() => latch.close());

  async function signedInAgent() {
    const agent = request.agent(latch.url);
    return { agent, page: await openSignedIn(latch, agent, person, '/account/security') };
  }

  it('sets up an authenticator app from /account/security with a fresh sign-in, shows recovery codes once, and removes it', async () => {
    const { agent, page } = await signedInAgent();
    expect(page.status).to.equal(200);
    expect(page.text).to.include('Set up an authenticator app');
    const enrol = await agent.get('/account/security/totp').expect(200);
    const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(enrol.text)![1]!;
    expect(enrol.text).to.include('data:image/png;base64,');
    const wrong = await agent.post('/account/security/totp').type('form').send({ _csrf: csrfOf(enrol.text), code: '000000' });
    expect(wrong.status).to.equal(400);
    const done = await agent.post('/account/security/totp').type('form').send({ _csrf: csrfOf(enrol.text), code: await generate({ secret }) }).expect(200);
    expect(done.text).to.include('Save your recovery codes');
    expect((await latch.container.mfa.factorsOf(person.id)).totp).to.not.equal(null);
    const security = await agent.get('/account/security').expect(200);
    expect(security.text).to.include('An authenticator app is set up.');
    await agent.post('/account/security/totp/remove').type('form').send({ _csrf: csrfOf(security.text) }).expect(200);
    expect((await latch.container.mfa.factorsOf(person.id)).totp ?? null).to.equal(null);
  });

  it('gives passkey registration options as JSON bound to the session, and refuses a broken or hostile registration with a message', async () => {
    const { agent, page } = await signedInAgent();
    expect(page.text).to.include('Add a passkey');
    const csrf = csrfOf(page.text);
    const options = await agent.post('/account/security/passkeys/options').set('x-csrf-token', csrf).send({ _csrf: csrf }).expect(200);
    expect(options.headers['cache-control']).to.equal('no-store');
    expect(options.body.challenge).to.be.a('string');
    expect(options.body.user.name).to.equal(person.email);
    expect(options.body.rp.id).to.equal(new URL(latch.issuer).hostname);

    for (const response of ['', 'not json', '{"id":"x","rawId":"x","type":"public-key","response":{}}', '<script>alert(1)</script>', 'x'.repeat(200_000), "' OR 1=1 --"]) {
      const res = await agent.post('/account/security/passkeys').type('form').send({ _csrf: csrf, name: 'Key', response });
      expect(res.status, response.slice(0, 40)).to.be.within(400, 499);
      expect(res.text).to.include('role="alert"');
      expect(res.text).to.not.include('<script>alert(1)</script>');
    }
    const withoutCsrf = await agent.post('/account/security/passkeys/options').send({});
    expect(withoutCsrf.status).to.equal(403);
    expect((await latch.container.mfa.factorsOf(person.id)).passkeys).to.deep.equal([]);
  });

  it('answers passkey options with a JSON error when there is no session', async () => {
    const res = await request(latch.url).post('/account/security/passkeys/options').set('accept', 'application/json').send({});
    expect(res.status).to.be.within(400, 403);
    expect(res.body.error).to.be.a('string');
  });

  it('asks for a new sign-in when the last one is older than five minutes', async () => {
    const { agent, page } = await signedInAgent();
    await latch.container.knex('oidc_payloads')
      .where({ model: 'Session', account_id: person.id })
      .update({ payload: latch.container.knex.raw(`jsonb_set(payload, '{loginTs}', to_jsonb(?::bigint))`, [Math.floor(Date.now() / 1000) - 600]) });
    const stale = await agent.post('/account/security/recovery-codes').type('form').send({ _csrf: csrfOf(page.text) });
    expect(stale.status).to.equal(403);
    expect(stale.text).to.include('Sign in again');
    const again = await agent.get('/account/security').expect(303);
    expect(again.headers.location).to.include('max_age=300');
    expect(again.headers.location).to.include('prompt=login');
  });
});
