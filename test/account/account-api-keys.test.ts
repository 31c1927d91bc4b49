import { expect } from 'chai';
import request from 'supertest';
import { createPerson, openSignedIn, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
const keyOf = (html: string) => /id="api-key" type="text" readonly value="([^"]+)"/.exec(html)?.[1];

/**
 * /account/api-keys: a person makes, lists, rotates and revokes API keys with forms — their
 * own and those of organizations they administer — and the keys work against the JSON API.
 */
describe('account pages: API keys', () => {
  let latch: TestLatch;
  let owner: Person;
  let member: Person;
  let teamOrg: string;

  before(async () => {
    latch = await startLatch();
    owner = await createPerson(latch, 'keys-owner@example.com');
    member = await createPerson(latch, 'keys-member@example.com');
    teamOrg = (await latch.container.orgs.create(owner.id, { name: 'Keys Team' })).id;
    await latch.container.queries.orgs.insertMembership({ org_id: teamOrg, account_id: member.id, role: 'member' });
  });
  after(() => latch.close());

  async function signedIn(person: Person) {
    const agent = request.agent(latch.url);
    const res = await openSignedIn(latch, agent, person, '/account/api-keys');
    expect(res.status).to.equal(200);
    return { agent, page: res };
  }

  const whoami = (key: string) => request(latch.url).get('/api/v1/whoami').set('x-api-key', key);
  const keyCount = async () => Number((await latch.container.knex('api_keys').count({ n: '*' }).first())!.n);

  it('creates a personal key with scopes, labels and an expiry; the secret is shown once and works', async () => {
    const { agent, page } = await signedIn(owner);
    expect(page.text).to.include('New API key');
    expect(page.text).to.include('api:read');
    const created = await agent
      .post('/account/api-keys')
      .type('form')
      .send(`_csrf=${encodeURIComponent(csrfOf(page.text))}&name=Deploy+bot&owner=me&scopes=api%3Aread&scopes=api%3Awrite&labels=project%3D42%0Aworkspace%3Dops&expires_in=30d`)
      .expect(200);
    const key = keyOf(created.text)!;
    expect(key).to.match(/^latch_/);
    expect(created.headers['cache-control']).to.equal('no-store');

    const me = await whoami(key).expect(200);
    expect(me.body.authMethod).to.equal('api-key');
    expect(me.body.scopes).to.have.members(['api:read', 'api:write']);

    const list = await agent.get('/account/api-keys').expect(200);
    expect(list.text).to.include('Deploy bot');
    expect(list.text).to.include('project=42, workspace=ops');
    expect(list.text).to.not.include(key);
    const [row] = await latch.container.apiKeys.list({ authMethod: 'session', accountId: owner.id });
    expect(row!.labels).to.deep.equal({ project: '42', workspace: 'ops' });
    expect(new Date(row!.expiresAt).getTime() - Date.now()).to.be.within(29 * 86400_000, 31 * 86400_000);
  });

  it('rotates a key (the old secret works through the grace period) and revokes it (401 at once)', async () => {
    const { agent, page } = await signedIn(owner);
    const created = await agent.post('/account/api-keys').type('form').send({ _csrf: csrfOf(page.text), name: 'Rotating', owner: 'me', scopes: 'api:read' }).expect(200);
    const oldKey = keyOf(created.text)!;
    const [view] = (await latch.container.apiKeys.list({ authMethod: 'session', accountId: owner.id })).filter((k) => k.name === 'Rotating');
    const rotated = await agent.post(`/account/api-keys/${view!.id}/rotate`).type('form').send({ _csrf: csrfOf(page.text), grace: '1h' }).expect(200);
    const newKey = keyOf(rotated.text)!;
    expect(newKey).to.not.equal(oldKey);
    await whoami(newKey).expect(200);
    await whoami(oldKey).expect(200);

    const revoked = await agent.post(`/account/api-keys/${view!.id}/revoke`).type('form').send({ _csrf: csrfOf(page.text) }).expect(200);
    expect(revoked.text).to.include('was revoked');
    await whoami(newKey).expect(401);
    await whoami(oldKey).expect(401);
  });

  it("an organization's owner makes its keys; a plain member cannot, even naming the organization in the form", async () => {
    const { agent, page } = await signedIn(owner);
    expect(page.text).to.include('Keys of Keys Team');
    const created = await agent.post('/account/api-keys').type('form').send({ _csrf: csrfOf(page.text), name: 'Team CI', owner: teamOrg, scopes: 'api:read' }).expect(200);
    const me = await whoami(keyOf(created.text)!).expect(200);
    expect(me.body.orgId).to.equal(teamOrg);

    const asMember = await signedIn(member);
    expect(asMember.page.text).to.not.include('Keys of Keys Team');
    const before = await keyCount();
    const refused = await asMember.agent.post('/account/api-keys').type('form').send({ _csrf: csrfOf(asMember.page.text), name: 'Sneaky', owner: teamOrg, scopes: 'api:read' });
    expect(refused.status).to.equal(403);
    expect(refused.text).to.include('role="alert"');
    const [teamKey] = await latch.container.apiKeys.list({ authMethod: 'session', accountId: owner.id }, teamOrg);
    const revoke = await asMember.agent.post(`/account/api-keys/${teamKey!.id}/revoke?org=${teamOrg}`).type('form').send({ _csrf: csrfOf(asMember.page.text) });
    expect(revoke.status).to.equal(403);
    const otherPersons = await asMember.agent.post(`/account/api-keys/${teamKey!.id}/revoke`).type('form').send({ _csrf: csrfOf(asMember.page.text) });
    expect(otherPersons.status).to.equal(404);
    expect(await keyCount()).to.equal(before);
    expect((await latch.container.apiKeys.list({ authMethod: 'session', accountId: owner.id }, teamOrg))[0]!.status).to.equal('active');
  });

  it('refuses malformed and hostile forms with a message on the page, and writes nothing', async () => {
    const { agent, page } = await signedIn(owner);
    const csrf = csrfOf(page.text);
    const before = await keyCount();
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ name: 'No scopes', owner: 'me' }, /at least one scope/],
      [{ name: 'Unknown scope', owner: 'me', scopes: 'root' }, /not a scope/],
      [{ name: '', owner: 'me', scopes: 'api:read' }, /name/i],
      [{ name: 'x'.repeat(5000), owner: 'me', scopes: 'api:read' }, /name/i],
      [{ name: 'Bad label', owner: 'me', scopes: 'api:read', labels: 'no-equals-sign' }, /key=value/],
      [{ name: 'Twice', owner: 'me', scopes: 'api:read', labels: 'a=1\na=2' }, /given twice/],
      [{ name: 'Bad resource', owner: 'me', scopes: 'api:read', resource: 'https://evil.example/api' }, /not a registered resource/],
      [{ name: 'Bad expiry', owner: 'me', scopes: 'api:read', expires_in: '9999d' }, /expiresIn/],
      [{ name: "'; DROP TABLE api_keys; --", owner: "me' OR 1=1", scopes: 'api:read' }, /organization|not found/i],
      [{ name: 'Nul\u0000name', owner: 'me', scopes: 'api:read' }, /name/i],
    ];
    for (const [form, message] of bad) {
      const res = await agent.post('/account/api-keys').type('form').send({ _csrf: csrf, ...form });
      expect(res.status, JSON.stringify(form).slice(0, 60)).to.be.within(400, 404);
      expect(res.text).to.match(message);
      expect(res.text).to.include('role="alert"');
    }
    const html = await agent.post('/account/api-keys').type('form').send({ _csrf: csrf, name: '<img src=x onerror=alert(1)>', owner: 'me', scopes: 'nope<script>' });
    expect(html.status).to.equal(400);
    expect(html.text).to.not.include('<script>');
    expect(html.text).to.not.include('<img src=x');
    expect(await keyCount()).to.equal(before);

    const noCsrf = await agent.post('/account/api-keys').type('form').send({ name: 'No CSRF', owner: 'me', scopes: 'api:read' });
    expect(noCsrf.status).to.equal(403);
    const noSession = await request(latch.url).post('/account/api-keys').type('form').send({ _csrf: csrf, name: 'Anon', owner: 'me', scopes: 'api:read' });
    expect(noSession.status).to.be.within(401, 403);
    for (const id of ['nope', 'x'.repeat(500), "1' OR '1'='1"]) {
      const res = await agent.post(`/account/api-keys/${encodeURIComponent(id)}/revoke`).type('form').send({ _csrf: csrf });
      expect(res.status).to.equal(404);
    }
    expect(await keyCount()).to.equal(before);
  });

  it('making a key needs a sign-in within the last five minutes', async () => {
    const { agent, page } = await signedIn(owner);
    await latch.container.knex('oidc_payloads')
      .where({ model: 'Session', account_id: owner.id })
      .update({ payload: latch.container.knex.raw(`jsonb_set(payload, '{loginTs}', to_jsonb(?::bigint))`, [Math.floor(Date.now() / 1000) - 600]) });
    const stale = await agent.post('/account/api-keys').type('form').send({ _csrf: csrfOf(page.text), name: 'Stale', owner: 'me', scopes: 'api:read' });
    expect(stale.status).to.equal(403);
    expect(stale.text).to.include('Sign in again');
    await agent.get('/account/api-keys').expect(200);
  });
});
