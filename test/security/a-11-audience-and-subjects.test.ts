import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { hasSubjectIdForm } from '../../lib/accounts/account-ids.js';
import { createResourceServer } from '../../lib/resource-server/index.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { authParams, countRows, drive, introspect, pkcePair, signUpAccount, type Agent } from '../support/flow.js';

/**
 * SECURITY.md A.11 — access tokens are audience-restricted (RFC 8707 resource indicators), and a
 * client_id never equals a person's `sub`. Against a real Latch over HTTP, checked by Latch's own
 * resource-server kit (lib/resource-server) and by Latch's API.
 */
describe('SECURITY A.11 — audience-restricted access tokens; a client_id never equals a user sub', function () {
  let latch: TestLatch;
  const A = 'https://a.example.com/api';
  const B = 'https://b.example.com/api';
  const OPAQUE = 'https://opaque.example.com/api';
  const redirectUri = 'https://app.example.com/callback';
  const email = 'ada@example.com';
  let web: string;
  let machine: { clientId: string; clientSecret: string };
  let personId: string;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch({ LATCH_REGISTRATION: 'open' });
    const { resources, clients } = latch.container;
    await resources.add({ identifier: A, scopes: ['a:read'] });
    await resources.add({ identifier: B, scopes: ['b:read'] });
    await resources.add({ identifier: OPAQUE, scopes: ['o:read'], tokenFormat: 'opaque' });
    ({ clientId: web } = await clients.create({ name: 'Web App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] }));
    machine = (await clients.create({ name: 'Machine', grantTypes: ['client_credentials'] })) as typeof machine;
    personId = (await signUpAccount(latch, email)).id;
  });
  after(() => latch.close());

  const clientCredentials = (auth: { clientId: string; clientSecret: string }, body: Record<string, string>) =>
    request(latch.url).post('/token').auth(auth.clientId, auth.clientSecret).type('form').send({ grant_type: 'client_credentials', ...body });
  const rs = (resource: string) => createResourceServer({ issuer: latch.issuer, resource });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  /** A code flow in a fresh browser asking for `resources` (RFC 8707: the parameter repeated) at /auth. */
  async function codeFor(resources: string[], scope: string) {
    const agent: Agent = request.agent(latch.url);
    const { verifier, challenge } = pkcePair();
    const query = new URLSearchParams(authParams({ clientId: web, redirectUri, scope, params: { prompt: 'consent' } }, challenge, 'st'));
    for (const r of resources) query.append('resource', r);
    const start = await agent.get(`/auth?${query}`);
    const { location } = await drive(latch, agent, start, { email });
    const code = location?.searchParams.get('code');
    if (!code) throw new Error(`no code: ${location?.href ?? start.status}`);
    return { code, verifier };
  }

  function redeem(code: string, verifier: string, resource?: string) {
    return request(latch.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'authorization_code', client_id: web, code, code_verifier: verifier, redirect_uri: redirectUri, ...(resource ? { resource } : {}) });
  }

  describe('audience', () => {
    it('a client_credentials JWT names the requested resource, and only it, as aud', async () => {
      for (const [resource, scope] of [[A, 'a:read'], [B, 'b:read']] as const) {
        const res = await clientCredentials(machine, { resource, scope });
        expect(res.status, resource).to.equal(200);
        const claims = jose.decodeJwt(res.body.access_token);
        expect(claims.aud, resource).to.equal(resource);
        expect(claims.scope).to.equal(scope);
        expect(jose.decodeProtectedHeader(res.body.access_token).typ).to.equal('at+jwt');
      }
      // another resource's scope is not granted for this one
      const mixed = await clientCredentials(machine, { resource: A, scope: 'a:read b:read' });
      if (mixed.status === 200) expect(jose.decodeJwt(mixed.body.access_token).scope).to.equal('a:read');
      else expect(mixed.body.error).to.equal('invalid_scope');
      // an unknown resource and two resources at once are refused
      expect((await clientCredentials(machine, { resource: 'https://unknown.example.com/', scope: 'a:read' })).body.error).to.equal('invalid_target');
      const both = await request(latch.url).post('/token').auth(machine.clientId, machine.clientSecret).type('form').send(`grant_type=client_credentials&resource=${encodeURIComponent(A)}&resource=${encodeURIComponent(B)}`);
      expect(both.status).to.equal(400);
      expect(both.body.error).to.equal('invalid_target');
    });

    it('a person\'s JWT from the code flow names only the one resource it was redeemed for', async () => {
      const run = await codeFor([A], 'openid a:read');
      const res = await redeem(run.code, run.verifier, A);
      expect(res.status).to.equal(200);
      const claims = jose.decodeJwt(res.body.access_token);
      expect(claims.aud).to.equal(A);
      expect(claims.sub).to.equal(personId);
      expect(claims.client_id).to.equal(web);
      expect(String(claims.scope).split(' ')).to.deep.equal(['a:read']);
    });

    it('a grant for A and B yields one token per resource, each with that resource alone as aud', async () => {
      const run = await codeFor([A, B], 'openid offline_access a:read b:read');
      const forA = await redeem(run.code, run.verifier, A);
      expect(forA.status).to.equal(200);
      const claimsA = jose.decodeJwt(forA.body.access_token);
      expect(claimsA.aud).to.equal(A);
      expect(claimsA.scope).to.equal('a:read');
      expect(forA.body.refresh_token).to.be.a('string');
      const forB = await request(latch.url).post('/token').type('form').send({ grant_type: 'refresh_token', client_id: web, refresh_token: forA.body.refresh_token, resource: B });
      expect(forB.status).to.equal(200);
      const claimsB = jose.decodeJwt(forB.body.access_token);
      expect(claimsB.aud).to.equal(B);
      expect(claimsB.scope).to.equal('b:read');
      // a resource that was never granted is refused
      const toOther = await request(latch.url).post('/token').type('form').send({ grant_type: 'refresh_token', client_id: web, refresh_token: forB.body.refresh_token, resource: OPAQUE });
      expect(toOther.status).to.equal(400);
      expect(toOther.body.error).to.equal('invalid_target');
    });

    it('a token for resource A is refused by a resource server for B, and by Latch\'s own API', async () => {
      const tokenA = (await clientCredentials(machine, { resource: A, scope: 'a:read' })).body.access_token as string;
      const atA = await rs(A).authenticate(bearer(tokenA));
      expect(atA.ok, 'control: A accepts its own token').to.equal(true);
      const atB = await rs(B).authenticate(bearer(tokenA));
      expect(atB.ok).to.equal(false);
      if (atB.ok) return;
      expect(atB.status).to.equal(401);
      expect(atB.body).to.deep.equal({ error: 'invalid_token', error_description: 'the access token is for another audience' });
      expect(atB.headers['www-authenticate']).to.include('error="invalid_token"');
      // and the person's token for A likewise
      const run = await codeFor([A], 'openid a:read');
      const personal = (await redeem(run.code, run.verifier, A)).body.access_token as string;
      expect((await rs(B).authenticate(bearer(personal))).ok).to.equal(false);
      expect((await rs(A).authenticate(bearer(personal))).ok).to.equal(true);
      for (const token of [tokenA, personal]) {
        const api = await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${token}`);
        expect(api.status).to.equal(401);
        expect(api.body.error).to.equal('invalid_token');
      }
    });

    it('a token asked for no resource is opaque, has no audience, and no resource server accepts it', async () => {
      const run = await codeFor([], 'openid');
      const res = await redeem(run.code, run.verifier);
      expect(res.status).to.equal(200);
      const token = res.body.access_token as string;
      expect(token.split('.').length, 'not a JWT').to.not.equal(3);
      const details = await introspect(latch, { clientId: web }, token);
      expect(details.active).to.equal(true);
      expect(details).not.to.have.property('aud');
      // good for the userinfo endpoint only
      expect((await request(latch.url).get('/me').set('Authorization', `Bearer ${token}`)).status).to.equal(200);
      for (const resource of [A, B]) {
        const refused = await rs(resource).authenticate(bearer(token));
        expect(refused.ok, resource).to.equal(false);
        if (!refused.ok) expect(refused.status).to.equal(401);
      }
      expect((await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${token}`)).status).to.equal(401);
    });

    it('a resource with opaque tokens gets an opaque token whose introspected aud is that resource alone', async () => {
      const res = await clientCredentials(machine, { resource: OPAQUE, scope: 'o:read' });
      expect(res.status).to.equal(200);
      expect(res.body.access_token.split('.').length).to.not.equal(3);
      const details = await introspect(latch, machine, res.body.access_token);
      expect(details.active).to.equal(true);
      expect(details.aud).to.be.oneOf([OPAQUE, [OPAQUE] as unknown as string]);
      expect((await rs(A).authenticate(bearer(res.body.access_token))).ok).to.equal(false);
    });
  });

  describe('a client_id never equals a user sub', () => {
    async function allIds() {
      const knex = latch.container.knex;
      const accounts = (await knex('accounts').select('id')).map((r: { id: string }) => r.id);
      const orgs = (await knex('organizations').select('id')).map((r: { id: string }) => r.id);
      const clients = (await knex('clients').select('client_id')).map((r: { client_id: string }) => r.client_id);
      return { accounts, orgs, clients };
    }

    it('every way of making a client gives an id that is no account\'s and has no account id\'s form', async () => {
      // a dynamic registration naming a person's id as its client_id does not get it
      const registered = await request(latch.url).post('/reg').send({ client_id: personId, client_name: 'Squatter', redirect_uris: [redirectUri] });
      expect(registered.status).to.equal(201);
      expect(registered.body.client_id).to.not.equal(personId);
      // nor does an admin-created one (the service chooses the id; a given one is ignored)
      const admin = await latch.container.clients.create({ name: 'Admin made', redirectUris: [redirectUri], clientId: personId } as never);
      expect(admin.clientId).to.not.equal(personId);
      await signUpAccount(latch, 'grace@example.com');
      const { accounts, orgs, clients } = await allIds();
      expect(accounts.length).to.be.at.least(2);
      expect(clients).to.include.members(['latch-account', 'latch-cli', web, machine.clientId, registered.body.client_id, admin.clientId]);
      for (const id of accounts) expect(hasSubjectIdForm(id), `account ${id}`).to.equal(true);
      for (const id of orgs) expect(hasSubjectIdForm(id), `organization ${id}`).to.equal(true);
      for (const id of clients) {
        expect(hasSubjectIdForm(id), `client ${id}`).to.equal(false);
        expect(accounts, `client ${id}`).not.to.include(id);
        expect(orgs, `client ${id}`).not.to.include(id);
      }
    });

    it('client metadata with a client_id in the form of an account id is refused (invalid_client_metadata)', async () => {
      const { Client } = latch.container.provider;
      const metadata = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], client_secret: 'x'.repeat(43) };
      for (const clientId of [personId, personId.toUpperCase(), '00000000-0000-4000-8000-000000000000']) {
        const err = await Client.validate({ ...metadata, client_id: clientId } as never).then(() => undefined, (e: unknown) => e as { error?: string; status?: number });
        expect(err, clientId).to.include({ error: 'invalid_client_metadata', status: 400 });
      }
      // control: the same metadata with an ordinary id passes
      await Client.validate({ ...metadata, client_id: 'an-ordinary-client-id' } as never);
    });

    it('a client stored with a person\'s id as its client_id (past the services) cannot get a token nor act as that person', async () => {
      const secret = 's'.repeat(43);
      await latch.container.knex('clients').insert({
        client_id: personId,
        source: 'admin',
        metadata: JSON.stringify({
          client_id: personId,
          client_secret: secret,
          client_name: 'Impostor',
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
        }),
      });
      const issued = (await countRows(latch, 'oidc_payloads', { model: 'ClientCredentials' })) + (await countRows(latch, 'oidc_payloads', { model: 'AccessToken' }));
      const apiResource = latch.container.resources.latchApi.identifier;
      const res = await clientCredentials({ clientId: personId, clientSecret: secret }, { resource: apiResource, scope: 'api:read' });
      // oidc-provider validates a stored client as it loads it, and Latch's policy refuses the id
      expect(res.status).to.equal(400);
      expect(res.body).to.deep.equal({ error: 'invalid_client_metadata', error_description: 'client_id must not have the form of an account id (a UUID)' });
      // nor can it start a code flow, or use Latch's API as the person through any token
      const auth = await request(latch.url).get('/auth').query({ client_id: personId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
      expect(auth.status).to.equal(400);
      expect(auth.headers).not.to.have.property('location');
      expect((await countRows(latch, 'oidc_payloads', { model: 'ClientCredentials' })) + (await countRows(latch, 'oidc_payloads', { model: 'AccessToken' }))).to.equal(issued);
      await latch.container.knex('clients').where({ client_id: personId }).delete();
    });

    it('a client acting for itself has its client_id as sub, and Latch\'s API never takes it for a person', async () => {
      const apiResource = latch.container.resources.latchApi.identifier;
      const own = (await latch.container.clients.create({ name: 'API robot', grantTypes: ['client_credentials'] })) as { clientId: string; clientSecret: string };
      const res = await clientCredentials(own, { resource: apiResource, scope: 'api:read' });
      expect(res.status).to.equal(200);
      const claims = jose.decodeJwt(res.body.access_token);
      expect(claims.sub).to.equal(own.clientId);
      expect(claims.client_id).to.equal(own.clientId);
      const { accounts } = await allIds();
      expect(accounts).not.to.include(claims.sub);
      const whoami = await request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${res.body.access_token}`).expect(200);
      expect(whoami.body).to.include({ sub: own.clientId, clientId: own.clientId, authMethod: 'bearer' });
      const me = await request(latch.url).get('/api/v1/me').set('Authorization', `Bearer ${res.body.access_token}`);
      expect(me.status).to.equal(403);
      // and a resource server sees sub = client_id, which names no person
      const seen = await rs(A).authenticate(bearer((await clientCredentials(own, { resource: A, scope: 'a:read' })).body.access_token));
      expect(seen.ok).to.equal(true);
      if (seen.ok) expect(seen.auth.extra.sub).to.equal(seen.auth.clientId);
    });
  });
});
