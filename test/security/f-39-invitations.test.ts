import crypto from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { INVITATION_TTL_SECONDS } from '../../lib/orgs/orgs.service.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, openSignedIn, signIn, testApp, type Person } from '../support/people.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';

/**
 * SECURITY.md F.39 — invitations: a secret token and the invited e-mail, verified; single-use;
 * expiring. Against a real Latch over HTTP (the JSON API and the hosted /account/invitations
 * page), the invitation mailed through a real SMTP server, the database inspected.
 */
describe('SECURITY F.39 — invitations: secret token + verified invited e-mail, single-use, expiring', function () {
  let latch: TestLatch;
  let mailbox: TestMailbox;
  let app: { clientId: string; redirectUri: string };
  let alice: Person; // owner of the organization
  let aliceToken: string;
  let orgId: string;
  const INVITATION = 'You are invited to an organization';
  const tokens = new Map<string, string>(); // person id -> Latch API access token

  const api = (token: string) => ({
    get: (path: string) => request(latch.url).get(`/api/v1${path}`).set('Authorization', `Bearer ${token}`),
    post: (path: string, body: object = {}) => request(latch.url).post(`/api/v1${path}`).set('Authorization', `Bearer ${token}`).send(body),
    delete: (path: string) => request(latch.url).delete(`/api/v1${path}`).set('Authorization', `Bearer ${token}`),
  });
  async function tokenOf(person: Person) {
    if (!tokens.has(person.id)) tokens.set(person.id, (await signIn(latch, person, app)).tokens.access_token);
    return tokens.get(person.id)!;
  }
  const accept = async (person: Person, token: unknown) => api(await tokenOf(person)).post('/invitations/accept', { token });
  const memberIds = async () => (await latch.container.knex('memberships').where({ org_id: orgId }).select('account_id')).map((r: { account_id: string }) => r.account_id);
  const invitationRow = (id: string) => latch.container.knex('invitations').where({ id }).first();

  /** Invites `email`; returns the invitation's id and the token from the mailed link. */
  async function invite(email: string, role = 'member') {
    const res = await api(aliceToken).post(`/orgs/${orgId}/invitations`, { email, role });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const mail = await mailbox.next(email, 10_000, INVITATION);
    const link = new URL(mailbox.linkIn(mail, '/account/invitations?token='));
    expect(link.origin).to.equal(latch.issuer);
    return { id: res.body.id as string, token: link.searchParams.get('token')!, response: res.body as Record<string, unknown> };
  }

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    mailbox = await startMailbox();
    latch = await startLatch({ SMTP_URL: mailbox.url });
    app = await testApp(latch);
    alice = await createPerson(latch, 'alice@example.com');
    aliceToken = await tokenOf(alice);
    orgId = (await api(aliceToken).post('/orgs', { name: 'Acme' }).expect(201)).body.id;
  });
  after(async () => {
    await latch.close();
    await mailbox.close();
  });

  it('the token is a 256-bit secret that only the mail carries: the row keeps its SHA-256, no answer or listing shows it', async () => {
    const bob = await createPerson(latch, 'bob@example.com');
    const { id, token, response } = await invite(bob.email);
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(response)).not.to.include(token);
    const row = await invitationRow(id);
    expect(row.token_hash).to.equal(crypto.createHash('sha256').update(token).digest('base64url'));
    expect(JSON.stringify(row)).not.to.include(token);
    const listed = await api(aliceToken).get(`/orgs/${orgId}/invitations`).expect(200);
    expect(JSON.stringify(listed.body)).not.to.include(token);
    expect(JSON.stringify(listed.body)).not.to.include(row.token_hash);
    // the stored hash is not itself a usable token
    const withHash = await accept(bob, row.token_hash);
    expect(withHash.status).to.equal(400);
    expect(withHash.body.error).to.equal('invalid_invitation');
    expect(await memberIds()).not.to.include(bob.id);
    // tokens differ from one invitation to the next
    const second = await invite(bob.email);
    expect(second.token).to.not.equal(token);
  });

  it('a wrong, altered, empty or oversized token is refused and joins nobody', async () => {
    const dan = await createPerson(latch, 'dan@example.com');
    const { token } = await invite(dan.email);
    const altered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    const members = await memberIds();
    for (const wrong of [crypto.randomBytes(32).toString('base64url'), altered, token.toUpperCase(), `${token} `, 'x'.repeat(201), '']) {
      const res = await accept(dan, wrong);
      expect(res.status, wrong).to.equal(400);
      expect(res.body.error, wrong).to.be.oneOf(['invalid_invitation', 'invalid_input']);
    }
    expect(await memberIds()).to.deep.equal(members);
    // control: the real token works for dan
    expect((await accept(dan, token)).status).to.equal(200);
    expect(await memberIds()).to.include(dan.id);
  });

  it('a person signed in with another e-mail cannot accept, by the API or the hosted page; the invitation stays usable', async () => {
    const erin = await createPerson(latch, 'erin@example.com');
    const mallory = await createPerson(latch, 'mallory@example.com');
    const { id, token } = await invite(erin.email, 'admin');
    const byApi = await accept(mallory, token);
    expect(byApi.status).to.equal(400);
    expect(byApi.body.error).to.equal('invalid_invitation');
    const browser = request.agent(latch.url);
    const page = await openSignedIn(latch, browser, mallory, `/account/invitations?token=${token}`);
    expect(page.status).to.equal(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const byPage = await browser.post('/account/invitations').type('form').send({ _csrf: csrf, token });
    expect(byPage.status).to.equal(400);
    expect(byPage.text).to.include('not for this account');
    expect(await memberIds()).not.to.include(mallory.id);
    expect((await invitationRow(id)).accepted_at).to.equal(null);
    // the invited person still can, through the hosted page
    const erinBrowser = request.agent(latch.url);
    const erinPage = await openSignedIn(latch, erinBrowser, erin, `/account/invitations?token=${token}`);
    const joined = await erinBrowser.post('/account/invitations').type('form').send({ _csrf: /name="_csrf" value="([^"]+)"/.exec(erinPage.text)![1]!, token });
    expect(joined.status).to.equal(303);
    expect(joined.headers.location).to.equal(`/account/orgs/${orgId}?done=joined`);
    const membership = await latch.container.knex('memberships').where({ org_id: orgId, account_id: erin.id }).first();
    expect(membership.role).to.equal('admin');
  });

  it('an account with the invited address but not yet verified cannot accept until it proves the address', async () => {
    // e.g. someone who signed up with the invitee's address first: they cannot confirm it
    const frank = await createPerson(latch, 'frank@example.com', { verified: false });
    const verifyMail = await mailbox.next(frank.email, 10_000, 'Confirm your e-mail address');
    const { id, token } = await invite(frank.email);
    const refused = await accept(frank, token);
    expect(refused.status).to.equal(403);
    expect(refused.body.error).to.equal('email_unverified');
    expect(await memberIds()).not.to.include(frank.id);
    expect((await invitationRow(id)).accepted_at).to.equal(null);
    // confirming the address through the mailed link is what makes the difference
    const link = new URL(mailbox.linkIn(verifyMail, '/verify-email?token='));
    const browser = request.agent(latch.url);
    const page = await browser.get(link.pathname + link.search).expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    await browser.post('/verify-email').type('form').send({ _csrf: csrf, token: link.searchParams.get('token') }).expect(200);
    const accepted = await accept(frank, token);
    expect(accepted.status).to.equal(200);
    expect(accepted.body).to.include({ id: orgId, role: 'member' });
  });

  it('an invitation works once: a second use, even by the same person after leaving, is refused', async () => {
    const gina = await createPerson(latch, 'gina@example.com');
    const { id, token } = await invite(gina.email);
    expect((await accept(gina, token)).status).to.equal(200);
    const again = await accept(gina, token);
    expect(again.status).to.equal(400);
    expect(again.body.error).to.equal('invalid_invitation');
    await api(await tokenOf(gina)).delete(`/orgs/${orgId}/members/${gina.id}`).expect(204);
    expect(await memberIds()).not.to.include(gina.id);
    expect((await accept(gina, token)).status, 'no way back in with a spent invitation').to.equal(400);
    expect(await memberIds()).not.to.include(gina.id);
    const row = await invitationRow(id);
    expect(row.accepted_by).to.equal(gina.id);
    expect(row.accepted_at).to.not.equal(null);
    // the hosted page shows a spent invitation as invalid
    const page = await openSignedIn(latch, request.agent(latch.url), gina, `/account/invitations?token=${token}`);
    expect(page.status).to.equal(400);
    expect(page.text).to.include('Invitation not valid');
  });

  it('twenty concurrent acceptances of one invitation: exactly one succeeds', async () => {
    const hank = await createPerson(latch, 'hank@example.com');
    const { id, token } = await invite(hank.email);
    const hankToken = await tokenOf(hank);
    const results = await Promise.all(Array.from({ length: 20 }, () => api(hankToken).post('/invitations/accept', { token })));
    expect(results.filter((r) => r.status === 200)).to.have.length(1);
    expect(results.filter((r) => r.status === 400)).to.have.length(19);
    expect((await memberIds()).filter((m) => m === hank.id)).to.have.length(1);
    expect((await invitationRow(id)).accepted_by).to.equal(hank.id);
  });

  it('an invitation expires after its lifetime; an expired one is refused by the API and the page', async () => {
    const ivy = await createPerson(latch, 'ivy@example.com');
    const { id, token } = await invite(ivy.email);
    const row = await invitationRow(id);
    const lifetime = (new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()) / 1000;
    expect(lifetime).to.be.within(INVITATION_TTL_SECONDS - 60, INVITATION_TTL_SECONDS + 60);
    expect(INVITATION_TTL_SECONDS).to.be.at.most(7 * 86400);
    await latch.container.knex('invitations').where({ id }).update({ expires_at: new Date(Date.now() - 1000) });
    const res = await accept(ivy, token);
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('invalid_invitation');
    expect(await memberIds()).not.to.include(ivy.id);
    const page = await openSignedIn(latch, request.agent(latch.url), ivy, `/account/invitations?token=${token}`);
    expect(page.status).to.equal(400);
    // and no longer listed as pending
    const pending = (await api(aliceToken).get(`/orgs/${orgId}/invitations`).expect(200)).body as Array<{ id: string }>;
    expect(pending.map((i) => i.id)).not.to.include(id);
  });

  it('a withdrawn invitation is refused', async () => {
    const jack = await createPerson(latch, 'jack@example.com');
    const { id, token } = await invite(jack.email);
    await api(aliceToken).delete(`/orgs/${orgId}/invitations/${id}`).expect(204);
    const res = await accept(jack, token);
    expect(res.status).to.equal(400);
    expect(await memberIds()).not.to.include(jack.id);
  });
});
