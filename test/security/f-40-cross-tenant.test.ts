import crypto from 'node:crypto';
import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';
import { authorize, createPerson, openSignedIn, redeem, signIn, testApp, type Person } from '../support/people.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';

/**
 * SECURITY.md F.40 — cross-tenant checks on every org-scoped route: a member or admin of
 * organization A (or A's own API key) gets 404 on organization B's objects, whatever id it
 * guesses, and nothing changes. The routes are every org-scoped route of the JSON API
 * (lib/orgs/orgs.routes.ts, lib/api-keys/api-keys.routes.ts) and of the hosted pages
 * (lib/account/account.routes.ts, lib/account/account-api-keys.routes.ts), plus the
 * organization chosen on the consent page. Each is sent at B's real ids and at made-up ones;
 * the database is compared before and after every request, and no mail may leave.
 */
describe('SECURITY F.40 — a member of org A gets 404 on org B\'s objects, whatever id it guesses', function () {
  let latch: TestLatch;
  let mailbox: TestMailbox;
  let app: { clientId: string; redirectUri: string };
  let alice: Person; // owner of A
  let mike: Person; // plain member of A
  let bob: Person; // owner of B
  let zoe: Person; // member of B
  let orgA: string;
  let orgB: string;
  let b: { invitation: string; orgKey: string; personalKey: string };
  let a: { orgKey: string };
  const tokens = new Map<string, string>();
  let aOrgApiKey: string; // A's own organization key (api:read api:write)

  /** ids that exist nowhere, in the forms an attacker would try */
  const madeUp = () => [crypto.randomUUID(), '00000000-0000-0000-0000-000000000000', "x' OR '1'='1", 'a'.repeat(64)];

  async function snapshot() {
    const k = latch.container.knex;
    const [orgs, memberships, invitations, keys, accounts, consents] = await Promise.all([
      k('organizations').select('id', 'name', 'personal', 'updated_at').orderBy('id'),
      k('memberships').select('org_id', 'account_id', 'role').orderBy(['org_id', 'account_id']),
      k('invitations').select('id', 'org_id', 'email', 'role', 'token_hash', 'expires_at', 'accepted_at').orderBy('id'),
      k('api_keys').select('id', 'org_id', 'account_id', 'name', 'secret_hash', 'previous_secret_hash', 'scopes', 'expires_at', 'rotated_at', 'revoked_at').orderBy('id'),
      k('accounts').select('id', 'active_org_id').orderBy('id'),
      k('consents').select('account_id', 'client_id', 'org_id').orderBy(['account_id', 'client_id']),
    ]);
    return JSON.stringify({ orgs, memberships, invitations, keys, accounts, consents, mails: mailbox.messages.length });
  }

  const tokenOf = async (person: Person) => {
    if (!tokens.has(person.id)) tokens.set(person.id, (await signIn(latch, person, app)).tokens.access_token);
    return tokens.get(person.id)!;
  };
  type Call = { method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'; path: string; body?: Record<string, unknown> };
  const send = (auth: Record<string, string>, c: Call) => {
    const req = request(latch.url)[c.method.toLowerCase() as 'get'](`/api/v1${c.path}`).set(auth);
    return c.body ? req.send(c.body) : req;
  };

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    mailbox = await startMailbox();
    latch = await startLatch({ SMTP_URL: mailbox.url });
    app = await testApp(latch);
    await createPerson(latch, 'root@example.com'); // the first account is the administrator; none of the others is
    alice = await createPerson(latch, 'alice@example.com');
    mike = await createPerson(latch, 'mike@example.com');
    bob = await createPerson(latch, 'bob@example.com');
    zoe = await createPerson(latch, 'zoe@example.com');
    const { orgs, queries } = latch.container;
    orgA = (await orgs.create(alice.id, { name: 'Alpha Org' })).id;
    orgB = (await orgs.create(bob.id, { name: 'Bravo Org' })).id;
    await queries.orgs.insertMembership({ org_id: orgA, account_id: mike.id, role: 'member' });
    await queries.orgs.insertMembership({ org_id: orgB, account_id: zoe.id, role: 'member' });
    const bobToken = await tokenOf(bob);
    const bobApi = (c: Call) => send({ Authorization: `Bearer ${bobToken}` }, c);
    b = {
      invitation: (await bobApi({ method: 'POST', path: `/orgs/${orgB}/invitations`, body: { email: 'bravo-invitee@example.com' } })).body.id,
      orgKey: (await bobApi({ method: 'POST', path: `/orgs/${orgB}/api-keys`, body: { name: 'bravo key', scopes: ['api:read'] } })).body.id,
      personalKey: (await bobApi({ method: 'POST', path: '/api-keys', body: { name: 'bob personal', scopes: ['api:read'] } })).body.id,
    };
    for (const id of Object.values(b)) expect(id).to.be.a('string');
    const aliceToken = await tokenOf(alice);
    const aKey = (await send({ Authorization: `Bearer ${aliceToken}` }, { method: 'POST', path: `/orgs/${orgA}/api-keys`, body: { name: 'alpha key', scopes: ['api:read', 'api:write'] } })).body;
    a = { orgKey: aKey.id };
    aOrgApiKey = aKey.key;
    await tokenOf(mike);
    await mailbox.next('bravo-invitee@example.com'); // the setup's own invitation mail
  });
  after(async () => {
    await latch.close();
    await mailbox.close();
  });

  /** Every org-scoped API route, aimed at organization `org` and at that organization's objects. */
  function orgPathCalls(org: string, ids: { member: string; invitation: string; key: string }, attacker: Person): Call[] {
    return [
      { method: 'GET', path: `/orgs/${org}` },
      { method: 'PATCH', path: `/orgs/${org}`, body: { name: 'taken over' } },
      { method: 'DELETE', path: `/orgs/${org}` },
      { method: 'GET', path: `/orgs/${org}/members` },
      { method: 'PATCH', path: `/orgs/${org}/members/${ids.member}`, body: { role: 'member' } },
      { method: 'PATCH', path: `/orgs/${org}/members/${attacker.id}`, body: { role: 'owner' } },
      { method: 'DELETE', path: `/orgs/${org}/members/${ids.member}` },
      { method: 'DELETE', path: `/orgs/${org}/members/${attacker.id}` },
      { method: 'POST', path: `/orgs/${org}/transfer`, body: { accountId: attacker.id } },
      { method: 'GET', path: `/orgs/${org}/invitations` },
      { method: 'POST', path: `/orgs/${org}/invitations`, body: { email: 'spy@example.com', role: 'owner' } },
      { method: 'DELETE', path: `/orgs/${org}/invitations/${ids.invitation}` },
      { method: 'GET', path: `/orgs/${org}/api-keys` },
      { method: 'POST', path: `/orgs/${org}/api-keys`, body: { name: 'spy key', scopes: ['api:read'] } },
      { method: 'DELETE', path: `/orgs/${org}/api-keys/${ids.key}` },
      { method: 'POST', path: `/orgs/${org}/api-keys/${ids.key}/rotate`, body: {} },
      { method: 'PUT', path: '/me/active-organization', body: { orgId: org } },
    ];
  }

  function expectHidden(res: request.Response, label: string) {
    expect(res.status, `${label}: ${res.status} ${res.text?.slice(0, 200)}`).to.equal(404);
    for (const secret of ['Bravo Org', bob.email, zoe.email, 'bravo-invitee@example.com', 'bravo key']) expect(res.text ?? '', label).not.to.include(secret);
  }

  describe('the JSON API', () => {
    for (const who of ['alice (owner of A)', 'mike (member of A)', "A's API key"] as const) {
      it(`${who}: every route under /orgs/<B> is 404 for B's real ids and for made-up ones; nothing changes`, async () => {
        const attacker = who.startsWith('alice') ? alice : mike;
        const auth: Record<string, string> = who === "A's API key" ? { 'X-API-Key': aOrgApiKey } : { Authorization: `Bearer ${await tokenOf(attacker)}` };
        const targets = [
          { org: orgB, member: bob.id, invitation: b.invitation, key: b.orgKey },
          ...madeUp().map((id) => ({ org: id, member: id, invitation: id, key: id })),
          { org: orgB, member: crypto.randomUUID(), invitation: crypto.randomUUID(), key: crypto.randomUUID() },
        ];
        let checked = 0;
        for (const target of targets) {
          for (const call of orgPathCalls(encodeURIComponent(target.org), { member: encodeURIComponent(target.member), invitation: encodeURIComponent(target.invitation), key: encodeURIComponent(target.key) }, attacker)) {
            // an organization's key acts for no person: a route without an organization in its path is not its to call
            if (who === "A's API key" && !call.path.startsWith('/orgs/')) continue;
            const before = await snapshot();
            const res = await send(auth, call);
            expectHidden(res, `${call.method} ${call.path}`);
            expect(res.body.error, `${call.method} ${call.path}`).to.equal('not_found');
            expect(await snapshot(), `${call.method} ${call.path} changed the database`).to.equal(before);
            checked += 1;
          }
        }
        expect(checked).to.be.at.least(5 * 15);
      });
    }

    it('through A\'s own routes, B\'s member, invitation and key ids are 404 to A\'s owner — and answered exactly like made-up ids to anyone', async () => {
      const callsWith = (ids: { member: string; invitation: string; key: string; personalKey: string }): Call[] => [
        { method: 'PATCH', path: `/orgs/${orgA}/members/${ids.member}`, body: { role: 'member' } },
        { method: 'DELETE', path: `/orgs/${orgA}/members/${ids.member}` },
        { method: 'POST', path: `/orgs/${orgA}/transfer`, body: { accountId: ids.member } },
        { method: 'DELETE', path: `/orgs/${orgA}/invitations/${ids.invitation}` },
        { method: 'DELETE', path: `/orgs/${orgA}/api-keys/${ids.key}` },
        { method: 'POST', path: `/orgs/${orgA}/api-keys/${ids.key}/rotate`, body: {} },
        { method: 'DELETE', path: `/api-keys/${ids.key}` },
        { method: 'POST', path: `/api-keys/${ids.key}/rotate`, body: {} },
        { method: 'DELETE', path: `/api-keys/${ids.personalKey}` },
        { method: 'POST', path: `/api-keys/${ids.personalKey}/rotate`, body: {} },
      ];
      const real = callsWith({ member: bob.id, invitation: b.invitation, key: b.orgKey, personalKey: b.personalKey });
      const fake = callsWith({ member: crypto.randomUUID(), invitation: crypto.randomUUID(), key: crypto.randomUUID(), personalKey: crypto.randomUUID() });
      const actors: Array<[Person | undefined, Record<string, string>]> = [
        [alice, { Authorization: `Bearer ${await tokenOf(alice)}` }],
        [mike, { Authorization: `Bearer ${await tokenOf(mike)}` }],
        [undefined, { 'X-API-Key': aOrgApiKey }],
      ];
      for (const [attacker, auth] of actors) {
        for (let i = 0; i < real.length; i += 1) {
          const label = `${attacker?.email ?? "A's key"} ${real[i]!.method} ${real[i]!.path}`;
          const before = await snapshot();
          const withReal = await send(auth, real[i]!);
          const withFake = await send(auth, fake[i]!);
          expect(await snapshot(), `${label} changed the database`).to.equal(before);
          // the same answer whether B's object exists or not: no oracle for B's ids
          expect({ status: withReal.status, body: withReal.body }, label).to.deep.equal({ status: withFake.status, body: withFake.body });
          if (attacker === alice) expectHidden(withReal, label);
          else expect(withReal.status, label).to.be.oneOf([403, 404]);
        }
      }
      // control: B's objects are all still there, and B sees them
      const bobApi = (c: Call) => send({ Authorization: `Bearer ${tokens.get(bob.id)!}` }, c);
      expect((await bobApi({ method: 'GET', path: `/orgs/${orgB}/invitations` })).body.map((i: { id: string }) => i.id)).to.include(b.invitation);
      expect((await bobApi({ method: 'GET', path: `/orgs/${orgB}/api-keys` })).body.map((k: { id: string; status: string }) => `${k.id}:${k.status}`)).to.include(`${b.orgKey}:active`);
      expect((await bobApi({ method: 'GET', path: `/orgs/${orgB}/members` })).body).to.have.length(2);
    });

    it('control: the same calls work on A for its owner, so the 404s above are not a broken route', async () => {
      const api = (c: Call) => send({ Authorization: `Bearer ${tokens.get(alice.id)!}` }, c);
      expect((await api({ method: 'GET', path: `/orgs/${orgA}` })).status).to.equal(200);
      expect((await api({ method: 'GET', path: `/orgs/${orgA}/members` })).body).to.have.length(2);
      expect((await api({ method: 'GET', path: `/orgs/${orgA}/api-keys` })).body.map((k: { id: string }) => k.id)).to.include(a.orgKey);
      expect((await send({ 'X-API-Key': aOrgApiKey }, { method: 'GET', path: `/orgs/${orgA}/api-keys` })).status).to.equal(200);
    });
  });

  describe('the hosted pages', () => {
    async function browserOf(person: Person) {
      const agent = request.agent(latch.url);
      const page = await openSignedIn(latch, agent, person, '/account');
      expect(page.status).to.equal(200);
      return { agent, csrf: /name="_csrf" value="([^"]+)"/.exec(page.text)![1]! };
    }

    /** Every org-scoped page and form, aimed at organization `org` and its objects. */
    const pageCalls = (org: string, ids: { member: string; key: string }): Call[] => [
      { method: 'GET', path: `/account/orgs/${org}` },
      { method: 'POST', path: `/account/orgs/${org}/activate` },
      { method: 'POST', path: `/account/orgs/${org}/leave` },
      { method: 'POST', path: `/account/orgs/${org}/invite`, body: { email: 'spy@example.com', role: 'owner' } },
      { method: 'POST', path: `/account/orgs/${org}/members/${ids.member}/role`, body: { role: 'member' } },
      { method: 'POST', path: `/account/orgs/${org}/members/${ids.member}/remove` },
      { method: 'POST', path: '/account/api-keys', body: { name: 'spy key', owner: org, scopes: 'api:read' } },
      { method: 'POST', path: `/account/api-keys/${ids.key}/revoke?org=${org}` },
      { method: 'POST', path: `/account/api-keys/${ids.key}/rotate?org=${org}`, body: { grace: '0' } },
      { method: 'POST', path: `/account/api-keys/${ids.key}/revoke`, body: { owner: org } },
    ];

    for (const who of ['alice (owner of A)', 'mike (member of A)'] as const) {
      it(`${who}: every /account page and form for B is 404 for B's real ids and for made-up ones; nothing changes`, async () => {
        const attacker = who.startsWith('alice') ? alice : mike;
        const { agent, csrf } = await browserOf(attacker);
        const targets = [{ org: orgB, member: bob.id, key: b.orgKey }, { org: orgB, member: zoe.id, key: b.personalKey }, ...madeUp().map((id) => ({ org: id, member: id, key: id }))];
        for (const target of targets) {
          for (const call of pageCalls(encodeURIComponent(target.org), { member: encodeURIComponent(target.member), key: encodeURIComponent(target.key) })) {
            const label = `${call.method} ${call.path}`;
            const before = await snapshot();
            const res = call.method === 'GET' ? await agent.get(call.path) : await agent.post(call.path).type('form').send({ _csrf: csrf, ...call.body });
            expectHidden(res, label);
            expect(res.text, label).not.to.match(/latch_[a-z0-9]{12}_[A-Za-z0-9]{43}/);
            expect(await snapshot(), `${label} changed the database`).to.equal(before);
          }
        }
      });
    }

    it('through A\'s own pages, B\'s members and keys are 404 to A\'s owner, and answered like made-up ids to a member', async () => {
      for (const attacker of [alice, mike]) {
        const { agent, csrf } = await browserOf(attacker);
        const callsWith = (ids: { member: string; key: string; personalKey: string }): Call[] => [
          { method: 'POST', path: `/account/orgs/${orgA}/members/${ids.member}/role`, body: { role: 'member' } },
          { method: 'POST', path: `/account/orgs/${orgA}/members/${ids.member}/remove` },
          { method: 'POST', path: `/account/api-keys/${ids.key}/revoke?org=${orgA}` },
          { method: 'POST', path: `/account/api-keys/${ids.key}/rotate?org=${orgA}`, body: { grace: '0' } },
          { method: 'POST', path: `/account/api-keys/${ids.key}/revoke` },
          { method: 'POST', path: `/account/api-keys/${ids.personalKey}/revoke` },
          { method: 'POST', path: `/account/api-keys/${ids.personalKey}/rotate`, body: { grace: '0' } },
        ];
        const real = callsWith({ member: bob.id, key: b.orgKey, personalKey: b.personalKey });
        const fake = callsWith({ member: crypto.randomUUID(), key: crypto.randomUUID(), personalKey: crypto.randomUUID() });
        for (let i = 0; i < real.length; i += 1) {
          const label = `${attacker.email} POST ${real[i]!.path}`;
          const before = await snapshot();
          const withReal = await agent.post(real[i]!.path).type('form').send({ _csrf: csrf, ...real[i]!.body });
          const withFake = await agent.post(fake[i]!.path).type('form').send({ _csrf: csrf, ...fake[i]!.body });
          expect(await snapshot(), `${label} changed the database`).to.equal(before);
          expect(withReal.status, label).to.equal(withFake.status);
          if (attacker === alice) expectHidden(withReal, label);
          else expect(withReal.status, label).to.be.oneOf([403, 404]);
        }
      }
    });

    it('the admin console\'s organization pages are closed to a non-administrator', async () => {
      const { agent } = await browserOf(alice);
      for (const path of [`/admin/orgs/${orgB}`, '/admin/orgs']) {
        const res = await agent.get(path);
        expect(res.status, path).to.equal(403);
        expect(res.text).not.to.include('Bravo Org');
      }
    });
  });

  describe('the consent page', () => {
    it('an organization the person does not belong to, posted as the one the app acts for, is ignored', async () => {
      const agent = request.agent(latch.url);
      const resource = latch.container.resources.latchApi.identifier;
      const { code, verifier } = await authorize(latch, agent, alice, { ...app, scope: 'openid api:read', resource, prompt: 'consent', org: orgB });
      const tokens = await redeem(latch, app.clientId, app.redirectUri, code, verifier, resource);
      const claims = jose.decodeJwt(tokens.access_token);
      expect(claims.org_id).to.be.a('string');
      expect(claims.org_id).to.not.equal(orgB);
      const consent = await latch.container.knex('consents').where({ account_id: alice.id, client_id: app.clientId }).first();
      expect(consent.org_id).to.not.equal(orgB);
      // the org the token names is one alice belongs to
      expect(await latch.container.knex('memberships').where({ org_id: claims.org_id, account_id: alice.id }).first()).to.not.equal(undefined);
    });
  });
});
