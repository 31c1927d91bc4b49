import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';

describe('GET /api/v1/whoami and /api/v1/me', () => {
  let latch: TestLatch;
  let person: Person;
  let app: { clientId: string; redirectUri: string };
  let session: Awaited<ReturnType<typeof signIn>>;

  before(async () => {
    latch = await startLatch();
    person = await createPerson(latch, 'grace@example.com');
    app = await testApp(latch);
    session = await signIn(latch, person, app);
  });
  after(() => latch.close());

  it('answers a session cookie with authMethod "session" and the active organization', async () => {
    const res = await session.agent.get('/api/v1/whoami').expect(200);
    expect(res.body).to.include({ sub: person.id, authMethod: 'session' });
    expect(res.body.scopes).to.include.members(['api:read', 'api:write']);
    expect(res.body.orgId).to.be.a('string');
  });

  it('answers a bearer token for the API with authMethod "bearer", its scopes, client and organization', async () => {
    const claims = jose.decodeJwt(session.tokens.access_token);
    expect(claims.aud).to.equal(`${latch.issuer}/api/v1`);
    const res = await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${session.tokens.access_token}`).expect(200);
    expect(res.body).to.deep.equal({ sub: person.id, authMethod: 'bearer', scopes: ['api:read', 'api:write'], orgId: claims.org_id, clientId: app.clientId });
  });

  it('gives the profile with memberships and the personal organization active', async () => {
    const res = await request(latch.url).get('/api/v1/me').set('Authorization', `Bearer ${session.tokens.access_token}`).expect(200);
    expect(res.body).to.include({ sub: person.id, email: person.email, emailVerified: true });
    expect(res.body.activeOrganization).to.include({ personal: true, role: 'owner' });
    expect(res.body.memberships).to.have.length(1);
  });

  it('refuses no credentials, a forged token, a token for another audience, with 401 and {error, message}', async () => {
    const none = await request(latch.url).get('/api/v1/whoami').expect(401);
    expect(none.body).to.have.keys(['error', 'message']);
    const forged = await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${session.tokens.access_token.slice(0, -4)}AAAA`).expect(401);
    expect(forged.body.error).to.equal('invalid_token');
    await latch.container.resources.add({ identifier: 'https://other.example.com', scopes: ['read'] });
    const { clientId, clientSecret } = await latch.container.clients.create({ name: 'M2M', grantTypes: ['client_credentials'] });
    const other = await request(latch.url).post('/token').auth(clientId, clientSecret!).type('form').send({ grant_type: 'client_credentials', resource: 'https://other.example.com', scope: 'read' }).expect(200);
    await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${other.body.access_token}`).expect(401);
  });

  it('refuses a cookie-authenticated change from another origin', async () => {
    const res = await session.agent.patch('/api/v1/me').set('Origin', 'https://evil.example').send({ name: 'Mallory' }).expect(403);
    expect(res.body.error).to.equal('csrf_failed');
    expect((await latch.container.accounts.findById(person.id))!.name).to.not.equal('Mallory');
    await session.agent.patch('/api/v1/me').set('Origin', latch.issuer).send({ name: 'Grace H.' }).expect(200);
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const doc = (await request(latch.url).get('/api/v1/openapi.json').expect(200)).body;
    expect(doc.openapi).to.equal('3.1.0');
    expect(doc.paths).to.have.property('/api/v1/orgs/{orgId}/members/{accountId}');
    expect(doc.paths['/api/v1/orgs'].post.requestBody.content['application/json'].schema.properties).to.have.property('name');
  });
});
