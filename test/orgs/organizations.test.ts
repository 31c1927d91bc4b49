import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { queriesDuring } from '../support/queries.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';

const INVITATION = 'You are invited to an organization';

/** Organizations over /api/v1: success, 401, 404 across tenants, 403 by role, 400 on bad input. */
describe('organizations API', () => {
  let latch: TestLatch;
  let mailbox: TestMailbox;
  let app: { clientId: string; redirectUri: string };
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let aliceToken: string;
  let bobToken: string;
  let carolToken: string;
  let orgA: string;

  const api = (token: string) => ({
    get: (path: string) => request(latch.url).get(`/api/v1${path}`).set('Authorization', `Bearer ${token}`),
    post: (path: string, body: object = {}) => request(latch.url).post(`/api/v1${path}`).set('Authorization', `Bearer ${token}`).send(body),
    patch: (path: string, body: object = {}) => request(latch.url).patch(`/api/v1${path}`).set('Authorization', `Bearer ${token}`).send(body),
    put: (path: string, body: object = {}) => request(latch.url).put(`/api/v1${path}`).set('Authorization', `Bearer ${token}`).send(body),
    delete: (path: string) => request(latch.url).delete(`/api/v1${path}`).set('Authorization', `Bearer ${token}`),
  });

  async function inviteAndAccept(org: string, person: Person, token: string, role: string) {
    await api(aliceToken).post(`/orgs/${org}/invitations`, { email: person.email, role }).expect(201);
    const mail = await mailbox.next(person.email, 10_000, INVITATION);
    const inviteToken = new URL(mailbox.linkIn(mail, '/account/invitations?token=')).searchParams.get('token')!;
    return api(token).post('/invitations/accept', { token: inviteToken });
  }

  before(async () => {
    mailbox = await startMailbox();
    latch = await startLatch({ SMTP_URL: mailbox.url });
    app = await testApp(latch);
    alice = await createPerson(latch, 'alice@example.com');
    bob = await createPerson(latch, 'bob@example.com');
    carol = await createPerson(latch, 'carol@example.com');
    aliceToken = (await signIn(latch, alice, app)).tokens.access_token;
    bobToken = (await signIn(latch, bob, app)).tokens.access_token;
    carolToken = (await signIn(latch, carol, app)).tokens.access_token;
  });
  after(async () => {
    await latch.close();
    await mailbox.close();
  });

  it('creates an organization owned by the caller; bad input is 400; no credentials 401', async () => {
    const res = await api(aliceToken).post('/orgs', { name: 'Acme' }).expect(201);
    expect(res.body).to.include({ name: 'Acme', role: 'owner', personal: false });
    orgA = res.body.id;
    for (const body of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 42 }, { name: 'ok', extra: 1 }]) {
      const bad = await api(aliceToken).post('/orgs', body).expect(400);
      expect(bad.body.error).to.equal('invalid_input');
      expect(bad.body.message).to.be.a('string');
    }
    await request(latch.url).post('/api/v1/orgs').send({ name: 'x' }).expect(401);
    const orgs = (await api(aliceToken).get('/orgs').expect(200)).body;
    expect(orgs.map((o: { name: string }) => o.name)).to.include('Acme');
  });

  it('an invitation accepted by another account is refused', async () => {
    const wrong = await inviteAndAccept(orgA, bob, carolToken, 'admin');
    expect(wrong.status).to.equal(400);
    expect(wrong.body.error).to.equal('invalid_invitation');
    const pending = (await api(aliceToken).get(`/orgs/${orgA}/invitations`).expect(200)).body;
    expect(pending.map((i: { email: string }) => i.email)).to.include(bob.email);
    await api(aliceToken).get(`/orgs/${orgA}/members`).expect(200).then((r) => expect(r.body).to.have.length(1));
  });

  it('an invitation works once, only for its address', async () => {
    await api(aliceToken).post(`/orgs/${orgA}/invitations`, { email: bob.email, role: 'admin' }).expect(201);
    const link = mailbox.linkIn(await mailbox.next(bob.email, 10_000, INVITATION), '/account/invitations?token=');
    const token = new URL(link).searchParams.get('token')!;
    await api(carolToken).post('/invitations/accept', { token }).expect(400);
    const accepted = await api(bobToken).post('/invitations/accept', { token }).expect(200);
    expect(accepted.body).to.include({ id: orgA, role: 'admin' });
    const again = await api(bobToken).post('/invitations/accept', { token }).expect(400);
    expect(again.body.error).to.equal('invalid_invitation');
  });

  it('an unverified address cannot accept its invitation', async () => {
    const dave = await createPerson(latch, 'dave@example.com', { verified: false });
    const daveToken = (await signIn(latch, dave, app)).tokens.access_token;
    const res = await inviteAndAccept(orgA, dave, daveToken, 'member');
    expect(res.status).to.equal(403);
    expect(res.body.error).to.equal('email_unverified');
  });

  it('a member of A gets 404 for everything of A it is not in, whatever id it guesses', async () => {
    const carolOrg = (await api(carolToken).post('/orgs', { name: 'Carol Co' }).expect(201)).body.id;
    const routes: Array<[string, (t: string) => request.Test]> = [
      ['get org', (t) => api(t).get(`/orgs/${carolOrg}`)],
      ['rename', (t) => api(t).patch(`/orgs/${carolOrg}`, { name: 'pwned' })],
      ['delete', (t) => api(t).delete(`/orgs/${carolOrg}`)],
      ['members', (t) => api(t).get(`/orgs/${carolOrg}/members`)],
      ['change role', (t) => api(t).patch(`/orgs/${carolOrg}/members/${carol.id}`, { role: 'member' })],
      ['remove member', (t) => api(t).delete(`/orgs/${carolOrg}/members/${carol.id}`)],
      ['transfer', (t) => api(t).post(`/orgs/${carolOrg}/transfer`, { accountId: alice.id })],
      ['invitations', (t) => api(t).get(`/orgs/${carolOrg}/invitations`)],
      ['invite', (t) => api(t).post(`/orgs/${carolOrg}/invitations`, { email: 'x@example.com' })],
      ['withdraw invitation', (t) => api(t).delete(`/orgs/${carolOrg}/invitations/00000000-0000-0000-0000-000000000000`)],
      ['switch active', (t) => api(t).put('/me/active-organization', { orgId: carolOrg })],
      ['guessed id', (t) => api(t).get('/orgs/00000000-0000-0000-0000-000000000000')],
      ["SQL in the id", (t) => api(t).get(`/orgs/${encodeURIComponent("' OR 1=1 --")}`)],
    ];
    for (const [label, call] of routes) {
      const res = await call(aliceToken);
      expect(res.status, label).to.equal(404);
      expect(res.body.error, label).to.equal('not_found');
    }
    expect((await api(carolToken).get(`/orgs/${carolOrg}`).expect(200)).body.name).to.equal('Carol Co');
  });

  it('roles: a member cannot change roles, rename or invite (403); an admin cannot make owners; the last owner cannot step down', async () => {
    const joined = await inviteAndAccept(orgA, carol, carolToken, 'member');
    expect(joined.status).to.equal(200);
    await api(carolToken).patch(`/orgs/${orgA}`, { name: 'x' }).expect(403);
    await api(carolToken).post(`/orgs/${orgA}/invitations`, { email: 'eve@example.com' }).expect(403);
    await api(carolToken).patch(`/orgs/${orgA}/members/${bob.id}`, { role: 'member' }).expect(403);
    await api(carolToken).delete(`/orgs/${orgA}`).expect(403);
    await api(bobToken).patch(`/orgs/${orgA}/members/${carol.id}`, { role: 'owner' }).expect(403);
    await api(bobToken).delete(`/orgs/${orgA}`).expect(403);
    await api(bobToken).patch(`/orgs/${orgA}/members/${carol.id}`, { role: 'admin' }).expect(204);
    await api(bobToken).patch(`/orgs/${orgA}/members/${carol.id}`, { role: 'superuser' }).expect(400);
    const lastOwner = await api(aliceToken).patch(`/orgs/${orgA}/members/${alice.id}`, { role: 'member' }).expect(409);
    expect(lastOwner.body.error).to.equal('conflict');
    const leave = await api(aliceToken).delete(`/orgs/${orgA}/members/${alice.id}`).expect(409);
    expect(leave.body.message).to.include('last owner');
    const members = (await api(carolToken).get(`/orgs/${orgA}/members`).expect(200)).body;
    expect(members.map((m: { email: string; role: string }) => `${m.email}:${m.role}`).sort()).to.deep.equal(['alice@example.com:owner', 'bob@example.com:admin', 'carol@example.com:admin']);
  });

  it('switching the active organization changes org_id in newly issued tokens', async () => {
    const before = jose.decodeJwt((await signIn(latch, alice, app)).tokens.access_token);
    expect(before.org_id).to.not.equal(orgA);
    await api(aliceToken).put('/me/active-organization', { orgId: orgA }).expect(200);
    const after = jose.decodeJwt((await signIn(latch, alice, app)).tokens.access_token);
    expect(after.org_id).to.equal(orgA);
    expect(after.org_role).to.equal('owner');
    expect((await api(aliceToken).get('/me').expect(200)).body.activeOrganization.id).to.equal(orgA);
  });

  it('the organization picked on the consent page is carried into the tokens of that app', async () => {
    const other = await testApp(latch, 'Other App');
    const personal = (await api(bobToken).get('/orgs').expect(200)).body.find((o: { personal: boolean }) => o.personal).id;
    await api(bobToken).put('/me/active-organization', { orgId: personal }).expect(200);
    const { tokens } = await signIn(latch, bob, { ...other, org: orgA });
    const claims = jose.decodeJwt(tokens.access_token);
    expect(claims.org_id).to.equal(orgA);
    expect(claims.org_role).to.equal('admin');
    const introspected = await request(latch.url).post('/token/introspection').type('form').send({ token: tokens.refresh_token!, client_id: other.clientId }).expect(200);
    expect(introspected.body.active).to.equal(true);
  });

  it("concurrent tokens' organizations are read in one statement, each with its own answer", async () => {
    // bob chose orgA for the other app on its consent page, and his personal organization is active
    const chosen = await latch.container.knex('consents').where({ account_id: bob.id, org_id: orgA }).first('client_id');
    const personal = (await api(bobToken).get('/orgs').expect(200)).body.find((o: { personal: boolean }) => o.personal).id;
    const { result: answers, queries } = await queriesDuring(latch.container.knex, () =>
      Promise.all([
        latch.container.orgs.orgForToken(bob.id, chosen.client_id),
        latch.container.orgs.orgForToken(bob.id, app.clientId),
        latch.container.orgs.orgForToken(bob.id, undefined),
        latch.container.orgs.orgForToken('no-such-account', app.clientId),
        latch.container.orgs.orgForToken(bob.id, chosen.client_id),
      ]),
    );
    expect(answers).to.deep.equal([
      { orgId: orgA, role: 'admin' },
      { orgId: personal, role: 'owner' },
      { orgId: personal, role: 'owner' },
      undefined,
      { orgId: orgA, role: 'admin' },
    ]);
    const statements = queries.filter((q) => /from "memberships" as "m"/.test(q.sql) && /"consents"/.test(q.sql));
    expect(statements, 'five look-ups made in one turn').to.have.length(1);
  });

  it('the organization picked on the consent page is carried into device-flow tokens too', async () => {
    const tv = await latch.container.clients.create({ name: 'Office TV', public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
    const device = (await request(latch.url).post('/device/auth').type('form').send({ client_id: tv.clientId, scope: 'openid' }).expect(200)).body;
    const agent = request.agent(latch.url);
    const entry = await agent.get('/device').expect(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(entry.text)![1];
    let res = await agent.post('/device').type('form').send({ xsrf, user_code: device.user_code });
    const confirmXsrf = /name="xsrf" value="([^"]+)"/.exec(res.text)![1];
    res = await agent.post('/device').type('form').send({ xsrf: confirmXsrf, user_code: device.user_code, confirm: 'yes' });
    const csrf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1];
    for (let i = 0; i < 10 && res.status !== 200; i += 1) res = await agent.get(new URL(res.headers.location!, latch.url).pathname);
    let uid = /\/interaction\/([\w-]+)\/login/.exec(res.text)![1];
    res = await agent.post(`/interaction/${uid}/login`).type('form').send({ _csrf: csrf(res.text), email: bob.email, password: bob.password });
    for (let i = 0; i < 10 && res.status !== 200; i += 1) res = await agent.get(new URL(res.headers.location!, latch.url).pathname);
    uid = /\/interaction\/([\w-]+)\/consent/.exec(res.text)![1];
    expect(res.text).to.include('<label for="org">Organization</label>');
    res = await agent.post(`/interaction/${uid}/consent`).type('form').send({ _csrf: csrf(res.text), decision: 'allow', org: orgA });
    for (let i = 0; i < 10 && res.status !== 200; i += 1) res = await agent.get(new URL(res.headers.location!, latch.url).pathname);
    expect(res.text).to.include('Device connected');
    const token = await request(latch.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: tv.clientId })
      .expect(200);
    const introspected = (await request(latch.url).post('/token/introspection').type('form').send({ token: token.body.access_token, client_id: tv.clientId }).expect(200)).body;
    expect(introspected.org_id).to.equal(orgA);
    expect(introspected.org_role).to.equal('admin');
  });

  it('transfers ownership, then the former owner can leave; a member leaves', async () => {
    await api(aliceToken).post(`/orgs/${orgA}/transfer`, { accountId: bob.id }).expect(204);
    const roles = (await api(aliceToken).get(`/orgs/${orgA}/members`).expect(200)).body;
    expect(roles.find((m: { accountId: string }) => m.accountId === bob.id).role).to.equal('owner');
    expect(roles.find((m: { accountId: string }) => m.accountId === alice.id).role).to.equal('admin');
    await api(aliceToken).delete(`/orgs/${orgA}/members/${alice.id}`).expect(204);
    await api(aliceToken).get(`/orgs/${orgA}`).expect(404);
  });

  it('account deletion is refused while the account alone owns an organization with other members', async () => {
    const res = await api(bobToken).delete('/me').expect(409);
    expect(res.body.error).to.equal('sole_owner');
    expect(res.body.organizations.map((o: { id: string }) => o.id)).to.include(orgA);
  });
});
