import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { client, discover } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';

describe('client_credentials, introspection and revocation', () => {
  let latch: TestLatch;
  let config: client.Configuration;
  let clientId: string;
  let clientSecret: string;
  const resource = 'https://api.example.com';

  before(async () => {
    latch = await startLatch();
    await latch.container.resources.add({ identifier: resource, scopes: ['read', 'manage'] });
    const created = await latch.container.clients.create({ name: 'Machine', grantTypes: ['client_credentials'] });
    clientId = created.clientId;
    clientSecret = created.clientSecret!;
    config = await discover(latch.issuer, clientId, clientSecret);
  });
  after(() => latch.close());

  it('issues an RFC 9068 JWT for a registered resource that verifies against jwks_uri', async () => {
    const tokens = await client.clientCredentialsGrant(config, { resource, scope: 'read' });
    expect(tokens.token_type.toLowerCase()).to.equal('bearer');
    const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, {
      issuer: latch.issuer,
      audience: resource,
      typ: 'at+jwt',
    });
    expect(protectedHeader.alg).to.equal('ES256');
    expect(payload.scope).to.equal('read');
    expect(payload.client_id).to.equal(config.clientMetadata().client_id);
    const now = Math.floor(Date.now() / 1000);
    expect(payload.exp).to.be.within(now + 60, now + 10 * 60 + 5);
    expect(tokens.expires_in).to.be.within(60, 600);
  });

  it('never grants a scope the resource does not define', async () => {
    const tokens = await client.clientCredentialsGrant(config, { resource, scope: 'read manage' });
    const payload = jose.decodeJwt(tokens.access_token);
    expect(String(payload.scope).split(' ').sort()).to.deep.equal(['manage', 'read']);
    const res = await request(latch.url)
      .post('/token')
      .auth(clientId, clientSecret)
      .type('form')
      .send({ grant_type: 'client_credentials', resource, scope: 'read admin' })
      .expect(200);
    expect(String(jose.decodeJwt(res.body.access_token).scope).split(' ')).to.deep.equal(['read']);
    expect(res.body.scope).to.equal('read');
  });

  it('refuses an unknown resource with invalid_target', async () => {
    const res = await request(latch.url)
      .post('/token')
      .auth(clientId, clientSecret)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: 'https://unknown.example.com' });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('invalid_target');
  });

  it('issues an opaque token without a resource; it introspects as active until revoked', async () => {
    const tokens = await client.clientCredentialsGrant(config, {});
    expect(tokens.access_token.split('.')).to.have.length(1);
    const active = await client.tokenIntrospection(config, tokens.access_token);
    expect(active.active).to.equal(true);
    expect(active.client_id).to.equal(config.clientMetadata().client_id);
    await client.tokenRevocation(config, tokens.access_token);
    const revoked = await client.tokenIntrospection(config, tokens.access_token);
    expect(revoked.active).to.equal(false);
  });

  it('refuses the grant to a client that is not allowed to use it', async () => {
    const other = await latch.container.clients.create({ name: 'Web', grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/cb'] });
    const res = await request(latch.url).post('/token').auth(other.clientId, other.clientSecret!).type('form').send({ grant_type: 'client_credentials' });
    expect(res.status).to.equal(400);
    // RFC 6749 §5.2: a grant type outside the client's allow-list is unauthorized_client
    expect(res.body.error).to.equal('unauthorized_client');
    expect(res.body).not.to.have.property('access_token');
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const res = await request(latch.url).post('/token').auth(clientId, 'wrong').type('form').send({ grant_type: 'client_credentials' });
    expect(res.status).to.equal(401);
    expect(res.body.error).to.equal('invalid_client');
  });
});
