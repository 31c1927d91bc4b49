import { expect } from 'chai';
import request from 'supertest';
import { createAdminCommands } from '../../lib/admin/admin-commands.js';
import { registerClient } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';

describe('dynamic client registration (RFC 7591 / 7592)', () => {
  describe('LATCH_REGISTRATION=open', () => {
    let latch: TestLatch;
    before(async () => {
      latch = await startLatch({ LATCH_REGISTRATION: 'open' });
    });
    after(() => latch.close());

    it('registers a confidential client with openid-client, then reads, updates and deletes it', async () => {
      const config = await registerClient(latch.issuer, {
        client_name: 'Confidential App',
        redirect_uris: ['https://app.example.com/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      });
      const meta = config.clientMetadata();
      expect(meta.client_id).to.be.a('string');
      expect(meta.client_secret).to.be.a('string');
      const rat = meta.registration_access_token as string;
      const uri = new URL(meta.registration_client_uri as string);
      expect(uri.origin).to.equal(latch.issuer);

      const read = await request(latch.url).get(uri.pathname).set('Authorization', `Bearer ${rat}`).expect(200);
      expect(read.body.client_name).to.equal('Confidential App');

      const updated = await request(latch.url)
        .put(uri.pathname)
        .set('Authorization', `Bearer ${rat}`)
        .send({ client_id: meta.client_id, client_secret: meta.client_secret, client_name: 'Renamed App', redirect_uris: ['https://app.example.com/callback'] })
        .expect(200);
      expect(updated.body.client_name).to.equal('Renamed App');
      // registration access tokens rotate on update (SECURITY.md C.23)
      const newRat = updated.body.registration_access_token;
      expect(newRat).to.be.a('string').and.not.equal(rat);
      await request(latch.url).get(uri.pathname).set('Authorization', `Bearer ${rat}`).expect(401);

      await request(latch.url).delete(uri.pathname).set('Authorization', `Bearer ${newRat}`).expect(204);
      await request(latch.url).get(uri.pathname).set('Authorization', `Bearer ${newRat}`).expect(401);
      const row = await latch.container.queries.clients.find(meta.client_id);
      expect(row).to.equal(undefined);
    });

    it('registers a public native client and records it as dynamic', async () => {
      const config = await registerClient(latch.issuer, {
        client_name: 'CLI',
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback', 'com.example.app:/cb'],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      });
      const meta = config.clientMetadata();
      expect(meta.client_secret).to.equal(undefined);
      const row = await latch.container.queries.clients.find(meta.client_id);
      expect(row?.source).to.equal('dynamic');
    });

    const badRedirects: Array<[string, Record<string, unknown>]> = [
      ['plain http on a public host', { redirect_uris: ['http://app.example.com/cb'] }],
      ['a fragment', { redirect_uris: ['https://app.example.com/cb#x'] }],
      ['javascript:', { redirect_uris: ['javascript:alert(1)'], application_type: 'native' }],
      ['data:', { redirect_uris: ['data:text/html,hi'], application_type: 'native' }],
      ['a wildcard', { redirect_uris: ['https://*.example.com/cb'] }],
      ['user information', { redirect_uris: ['https://app@evil.example/cb'] }],
      ['a custom scheme on a web client', { redirect_uris: ['com.example.app:/cb'] }],
    ];
    for (const [label, body] of badRedirects) {
      it(`refuses redirect URIs with ${label}`, async () => {
        const res = await request(latch.url).post('/reg').send({ client_name: 'x', ...body }).expect(400);
        expect(res.body.error).to.be.oneOf(['invalid_redirect_uri', 'invalid_client_metadata']);
        expect(await latch.container.queries.clients.list()).to.satisfy((rows: Array<{ metadata: { client_name?: string } }>) => rows.every((r) => r.metadata.client_name !== 'x'));
      });
    }

    it('drops logo/tos/policy/client URIs that are not on a redirect URI host (SECURITY.md C.21)', async () => {
      const res = await request(latch.url)
        .post('/reg')
        .send({
          client_name: 'Links',
          redirect_uris: ['https://app.example.com/cb'],
          logo_uri: 'https://evil.example/logo.png',
          policy_uri: 'https://app.example.com/privacy',
        })
        .expect(201);
      expect(res.body).not.to.have.property('logo_uri');
      expect(res.body.policy_uri).to.equal('https://app.example.com/privacy');
    });
  });

  describe('LATCH_REGISTRATION=closed', () => {
    let latch: TestLatch;
    before(async () => {
      latch = await startLatch({ LATCH_REGISTRATION: 'closed' });
    });
    after(() => latch.close());

    it('advertises no registration endpoint and refuses registration', async () => {
      const discovery = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
      expect(discovery).not.to.have.property('registration_endpoint');
      const res = await request(latch.url).post('/reg').send({ redirect_uris: ['https://app.example.com/cb'] });
      expect(res.status).to.be.within(400, 499);
      expect(res.body.error).to.be.a('string');
      expect(await latch.container.queries.clients.list()).to.have.length(0);
    });
  });

  describe('LATCH_REGISTRATION=token', () => {
    let latch: TestLatch;
    before(async () => {
      latch = await startLatch({ LATCH_REGISTRATION: 'token' });
    });
    after(() => latch.close());

    it('refuses registration without an initial access token, or with a wrong one', async () => {
      const body = { redirect_uris: ['https://app.example.com/cb'] };
      const none = await request(latch.url).post('/reg').send(body);
      expect(none.status).to.equal(401);
      expect(none.body.error).to.equal('invalid_token');
      const wrong = await request(latch.url).post('/reg').set('Authorization', 'Bearer not-a-real-token').send(body);
      expect(wrong.status).to.equal(401);
      expect(await latch.container.queries.clients.list()).to.have.length(0);
    });

    it('accepts a registration with a token made by `latch registration-tokens create`', async () => {
      const commands = createAdminCommands(latch.container);
      const { token } = await commands['registration-tokens.create']({ expiresIn: 600 });
      const config = await registerClient(latch.issuer, { redirect_uris: ['https://app.example.com/cb'] }, token);
      expect(config.clientMetadata().client_id).to.be.a('string');
      await commands['registration-tokens.revoke']({ token });
      const again = await request(latch.url).post('/reg').set('Authorization', `Bearer ${token}`).send({ redirect_uris: ['https://app.example.com/cb'] });
      expect(again.status).to.equal(401);
    });
  });
});
