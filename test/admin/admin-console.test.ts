import { expect } from 'chai';
import request from 'supertest';
import { countRows } from '../support/flow.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, type Person } from '../support/people.js';

/**
 * /admin through a real signed-in browser session (a cookie-keeping agent over HTTP): for
 * administrators only, behind a sign-in from the last five minutes, every change a form post
 * with a CSRF token, recorded in the audit log; hostile input gets a page with a message.
 */
describe('admin console', function () {
  this.timeout(120_000);
  let latch: TestLatch;
  let admin: Person;
  let person: Person;
  let agent: ReturnType<typeof request.agent>;
  let dynamicClient: string;

  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

  /** Follows redirects like a browser, signing in as `who` when the sign-in form appears. */
  async function visit(a: ReturnType<typeof request.agent>, path: string, who: Person) {
    let res = await a.get(path);
    for (let i = 0; i < 10; i += 1) {
      if (res.status === 303 || res.status === 302) {
        const next = new URL(res.headers.location!, latch.url);
        res = await a.get(next.pathname + next.search);
      } else if (res.status === 200 && /\/interaction\/[\w-]+\/login/.test(res.text)) {
        const uid = /\/interaction\/([\w-]+)\/login/.exec(res.text)![1];
        res = await a.post(`/interaction/${uid}/login`).type('form').send({ _csrf: csrfOf(res.text), email: who.email, password: who.password });
      } else break;
    }
    return res;
  }

  before(async () => {
    latch = await startLatch({ LATCH_REGISTRATION: 'open' });
    admin = await createPerson(latch, 'console-admin@example.com'); // the first account: administrator
    person = await createPerson(latch, 'console-person@example.com', { name: '<b>Mallory</b>' });
    dynamicClient = (await request(latch.url).post('/reg').send({ client_name: '<script>alert(1)</script>', redirect_uris: ['https://dyn.example.com/cb'] }).expect(201)).body.client_id;
    await latch.container.clients.create({ name: 'Admin Made App', grantTypes: ['client_credentials'] });
    agent = request.agent(latch.url);
    const home = await visit(agent, '/admin', admin);
    expect(home.status, home.text.slice(0, 300)).to.equal(200);
  });
  after(() => latch.close());

  it('sends a visitor who is not signed in to sign in, and comes back to the page asked for', async () => {
    const a = request.agent(latch.url);
    const first = await a.get('/admin/users').expect(303);
    expect(first.headers.location).to.match(/\/auth\?client_id=latch-account&/);
    const page = await visit(a, '/admin/users', admin);
    expect(page.status).to.equal(200);
    expect(page.text).to.include('<h1 id="page-title">Users</h1>');
  });

  it('answers 403 to a signed-in person who is not an administrator', async () => {
    const a = request.agent(latch.url);
    const page = await visit(a, '/admin', person);
    expect(page.status).to.equal(403);
    expect(page.text).to.include('The admin console is for administrators.');
    // with a valid CSRF token from the person's own account page
    const own = await a.get('/account').expect(200);
    const post = await a.post(`/admin/users/${admin.id}/disable`).type('form').send({ _csrf: csrfOf(own.text) });
    expect(post.status).to.equal(403);
    expect((await latch.container.accounts.findById(admin.id))!.disabled).to.equal(false);
  });

  it('lists clients with dynamic ones marked and their last use; names are escaped', async () => {
    const page = await agent.get('/admin/clients').expect(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    expect(page.text).to.include(dynamicClient);
    expect(page.text).to.include('<span class="tag">Dynamic</span>');
    expect(page.text).to.include('Admin Made App');
    expect(page.text).to.include('never');
    expect(page.text).to.include('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.to.include('<script>alert(1)');
  });

  it('lists users, organizations and resources', async () => {
    const users = await agent.get('/admin/users').query({ search: 'console-person' }).expect(200);
    expect(users.text).to.include('console-person@example.com');
    expect(users.text).not.to.include('console-admin@example.com');
    expect(users.text).to.include('&lt;b&gt;Mallory&lt;/b&gt;');
    await latch.container.orgs.create(person.id, { name: 'Console Org' });
    const orgs = await agent.get('/admin/orgs').expect(200);
    expect(orgs.text).to.include('Console Org');
    const orgId = /\/admin\/orgs\/([^"]+)">Console Org/.exec(orgs.text)![1]!;
    const org = await agent.get(`/admin/orgs/${orgId}`).expect(200);
    expect(org.text).to.include('console-person@example.com');
    const resources = await agent.get('/admin/resources').expect(200);
    expect(resources.text).to.include(latch.container.resources.latchApi.identifier);
  });

  it('disables and enables a user and resets their MFA with CSRF-protected forms; each change is audited with the admin as actor', async () => {
    const page = await agent.get('/admin/users').expect(200);
    const disabled = await agent.post(`/admin/users/${person.id}/disable`).type('form').send({ _csrf: csrfOf(page.text) });
    expect(disabled.status).to.equal(303);
    expect(disabled.headers.location).to.equal('/admin/users?done=disabled');
    expect((await latch.container.accounts.findById(person.id))!.disabled).to.equal(true);
    const after = await agent.get('/admin/users?done=disabled').expect(200);
    expect(after.text).to.include('The account was disabled');

    await agent.post(`/admin/users/${person.id}/enable`).type('form').send({ _csrf: csrfOf(after.text) }).expect(303);
    expect((await latch.container.accounts.findById(person.id))!.disabled).to.equal(false);
    await latch.container.mfa.recoveryCodes.regenerate(person.id);
    await agent.post(`/admin/users/${person.id}/reset-mfa`).type('form').send({ _csrf: csrfOf(after.text) }).expect(303);
    expect((await latch.container.mfa.factorsOf(person.id)).remainingRecoveryCodes).to.equal(0);

    const events = await latch.container.audit.list({ type: 'admin.users', actor: admin.id });
    expect(events.map((e) => e.type)).to.include.members(['admin.users.disable', 'admin.users.enable', 'admin.users.reset-mfa']);
    expect(events.every((e) => e.subject === person.id)).to.equal(true);
  });

  it('refuses changes without a CSRF token or from another site, changing nothing', async () => {
    const page = await agent.get('/admin/users').expect(200);
    const noToken = await agent.post(`/admin/users/${person.id}/disable`).type('form').send({});
    expect(noToken.status).to.equal(403);
    const crossSite = await agent.post(`/admin/users/${person.id}/disable`).set('Origin', 'https://evil.example').set('Sec-Fetch-Site', 'cross-site').type('form').send({ _csrf: csrfOf(page.text) });
    expect(crossSite.status).to.equal(403);
    expect((await latch.container.accounts.findById(person.id))!.disabled).to.equal(false);
    // a GET never changes anything
    expect((await agent.get(`/admin/users/${person.id}/disable`)).status).to.be.within(400, 499);
    expect((await latch.container.accounts.findById(person.id))!.disabled).to.equal(false);
  });

  it('answers hostile input with a page and a message, never a 500', async () => {
    const page = await agent.get('/admin/users').expect(200);
    const csrf = csrfOf(page.text);
    for (const id of ['%00', 'x'.repeat(5000), '..%2F..%2Fetc', 'nobody']) {
      const res = await agent.post(`/admin/users/${id}/disable`).type('form').send({ _csrf: csrf });
      expect(res.status, id.slice(0, 20)).to.be.within(400, 499);
      expect(res.headers['content-type']).to.match(/html/);
    }
    const unknownClient = await agent.post('/admin/clients/nope%00/delete').type('form').send({ _csrf: csrf });
    expect(unknownClient.status).to.be.within(400, 499);
    expect((await agent.get('/admin/orgs/%00')).status).to.equal(404);
    expect((await agent.get(`/admin/orgs/${'z'.repeat(3000)}`)).status).to.equal(404);
    const badFilter = await agent.get('/admin/audit').query({ since: 'last tuesday' });
    expect(badFilter.status).to.equal(400);
    expect(badFilter.text).to.include('since must be a date');
    const hostileFilter = await agent.get('/admin/audit').query({ type: '"><script>x()</script>', actor: 'a\u0000b', limit: ['1', '2'] });
    expect(hostileFilter.status).to.be.oneOf([200, 400]);
    expect(hostileFilter.text).not.to.include('<script>x()');
    const arrays = await agent.get('/admin/users').query({ search: ['a', 'b'] });
    expect(arrays.status).to.equal(200);
    // the only administrator cannot lock everyone out
    const self = await agent.post(`/admin/users/${admin.id}/disable`).type('form').send({ _csrf: csrf });
    expect(self.status).to.equal(409);
    expect(self.text).to.include('only enabled administrator');
  });

  it('shows the audit log with filters', async () => {
    const all = await agent.get('/admin/audit').expect(200);
    expect(all.text).to.include('admin.users.disable');
    expect(all.text).to.include('sign_in.password');
    const filtered = await agent.get('/admin/audit').query({ type: 'sign_in', outcome: 'success', since: '1h' }).expect(200);
    expect(filtered.text).to.include('sign_in.password');
    expect(filtered.text).not.to.include('admin.users.disable');
    expect(filtered.text).to.include('value="sign_in"');
  });

  it('deletes a client with a form', async () => {
    const page = await agent.get('/admin/clients').expect(200);
    await agent.post(`/admin/clients/${dynamicClient}/delete`).type('form').send({ _csrf: csrfOf(page.text) }).expect(303);
    expect(await countRows(latch, 'clients', { client_id: dynamicClient })).to.equal(0);
    const [event] = await latch.container.audit.list({ type: 'admin.clients.delete', limit: 1 });
    expect(event).to.include({ actor: admin.id, subject: dynamicClient, outcome: 'success' });
  });

  it('asks for a new sign-in when the last one is older than five minutes', async () => {
    const page = await agent.get('/admin/users').expect(200);
    await latch.container.knex('oidc_payloads')
      .where({ model: 'Session', account_id: admin.id })
      .update({ payload: latch.container.knex.raw(`jsonb_set(payload, '{loginTs}', to_jsonb(?::bigint))`, [Math.floor(Date.now() / 1000) - 600]) });
    const stale = await agent.get('/admin/users').expect(303);
    expect(stale.headers.location).to.include('max_age=300');
    expect(stale.headers.location).to.include('prompt=login');
    const post = await agent.post(`/admin/users/${person.id}/disable`).type('form').send({ _csrf: csrfOf(page.text) });
    expect(post.status).to.equal(403);
    expect(post.text).to.include('Sign in again');
    expect((await latch.container.accounts.findById(person.id))!.disabled).to.equal(false);
  });
});
