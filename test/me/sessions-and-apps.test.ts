import { expect } from 'chai';
import request from 'supertest';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** Session control, connected apps and account deletion: what ends must end at once. */
describe('sessions, connected apps and account deletion', () => {
  let latch: TestLatch;
  let app: { clientId: string; redirectUri: string };

  before(async () => {
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch.close());

  const introspect = async (token: string, clientId = app.clientId) =>
    (await request(latch.url).post('/token/introspection').type('form').send({ token, client_id: clientId }).expect(200)).body.active as boolean;
  const refresh = (token: string, clientId = app.clientId) =>
    request(latch.url).post('/token').type('form').send({ grant_type: 'refresh_token', refresh_token: token, client_id: clientId });

  it('lists sessions, ends one, and "sign out everywhere" kills every session and refresh token', async () => {
    const person = await createPerson(latch, 'sam@example.com');
    const first = await signIn(latch, person, app);
    const second = await signIn(latch, person, app);
    const sessions = (await first.agent.get('/api/v1/sessions').expect(200)).body;
    expect(sessions).to.have.length(2);
    expect(sessions.filter((s: { current: boolean }) => s.current)).to.have.length(1);

    const other = sessions.find((s: { current: boolean }) => !s.current);
    await first.agent.delete(`/api/v1/sessions/${other.id}`).set('Origin', latch.issuer).expect(204);
    await second.agent.get('/api/v1/whoami').expect(401);
    await first.agent.delete('/api/v1/sessions/not-a-session').set('Origin', latch.issuer).expect(404);

    expect(await introspect(first.tokens.refresh_token!)).to.equal(true);
    await first.agent.post('/api/v1/sessions/end-all').set('Origin', latch.issuer).expect(200);
    expect(await introspect(first.tokens.refresh_token!)).to.equal(false);
    expect(await introspect(second.tokens.refresh_token!)).to.equal(false);
    expect((await refresh(first.tokens.refresh_token!)).body.error).to.equal('invalid_grant');
    await first.agent.get('/api/v1/whoami').expect(401);
  });

  it('lists connected apps and revokes one: its refresh tokens die with it', async () => {
    const person = await createPerson(latch, 'ria@example.com');
    const other = await testApp(latch, 'Second App');
    const { agent, tokens } = await signIn(latch, person, app);
    const second = await signIn(latch, person, other);
    const apps = (await agent.get('/api/v1/consents').expect(200)).body;
    expect(apps.map((a: { name: string }) => a.name).sort()).to.deep.equal(['Second App', 'Test App']);
    await agent.delete(`/api/v1/consents/${encodeURIComponent(other.clientId)}`).set('Origin', latch.issuer).expect(204);
    expect(await introspect(second.tokens.refresh_token!, other.clientId)).to.equal(false);
    expect(await introspect(tokens.refresh_token!)).to.equal(true);
    await agent.delete(`/api/v1/consents/${encodeURIComponent(other.clientId)}`).set('Origin', latch.issuer).expect(404);
  });

  it('deleting the account ends its tokens and removes its data', async () => {
    const person: Person = await createPerson(latch, 'del@example.com');
    const { tokens } = await signIn(latch, person, app);
    await request(latch.url).delete('/api/v1/me').set('Authorization', `Bearer ${tokens.access_token}`).expect(204);
    expect(await introspect(tokens.refresh_token!)).to.equal(false);
    expect((await refresh(tokens.refresh_token!)).status).to.equal(400);
    expect(await latch.container.knex('accounts').where({ id: person.id }).first()).to.equal(undefined);
    expect(await latch.container.knex('memberships').where({ account_id: person.id }).first()).to.equal(undefined);
    expect(await latch.container.knex('oidc_payloads').where({ account_id: person.id }).first()).to.equal(undefined);
    // the JWT is self-contained, but the account it names is gone
    const after = await request(latch.url).get('/api/v1/me').set('Authorization', `Bearer ${tokens.access_token}`);
    expect(after.status).to.be.oneOf([401, 403, 404]);
  });

  it('JSON API errors are {error, message} with a 4xx for malformed bodies', async () => {
    const person = await createPerson(latch, 'bad@example.com');
    const { tokens } = await signIn(latch, person, app);
    const auth = { Authorization: `Bearer ${tokens.access_token}` };
    const cases: Array<[string, request.Test]> = [
      ['broken JSON', request(latch.url).post('/api/v1/orgs').set(auth).set('Content-Type', 'application/json').send('{"name":')],
      ['an array', request(latch.url).post('/api/v1/orgs').set(auth).send([1, 2])],
      ['a 1 MB body', request(latch.url).post('/api/v1/orgs').set(auth).send({ name: 'x'.repeat(1024 * 1024) })],
      ['text/plain', request(latch.url).post('/api/v1/orgs').set(auth).set('Content-Type', 'text/plain').send('name=x')],
      ['a NUL in a name', request(latch.url).post('/api/v1/orgs').set(auth).send({ name: 'a\u0000b' })],
      ['HTML where an id goes', request(latch.url).get('/api/v1/orgs/%3Cscript%3E').set(auth)],
      ['an unknown route', request(latch.url).get('/api/v1/nothing-here').set(auth)],
    ];
    for (const [label, call] of cases) {
      const res = await call;
      expect(res.status, label).to.be.within(400, 499);
      expect(res.body, label).to.have.property('error').that.is.a('string');
    }
    expect(await latch.container.knex('organizations').where({ name: 'a\u0001b' }).first()).to.equal(undefined);
  });
});
