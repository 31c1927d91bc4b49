import { expect } from 'chai';
import request from 'supertest';
import { createAdminCommands } from '../../lib/admin/admin-commands.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { countRows, drive, signUpAccount, authParams, pkcePair } from '../support/flow.js';

/** SECURITY.md part C — dynamic client registration (RFC 7591 / 7592). */
describe('SECURITY C — dynamic client registration', function () {
  describe('SECURITY C.19 — the registration policy is configurable: open, initial access token, or closed', () => {
    const body = { client_name: 'Policy App', redirect_uris: ['https://app.example.com/cb'] };

    it('LATCH_REGISTRATION=open: anyone may register', async function () {
      this.timeout(180_000); // may be the first Latch of the run
      const latch = await startLatch({ LATCH_REGISTRATION: 'open' });
      try {
        const discovery = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
        expect(discovery.registration_endpoint).to.equal(`${latch.issuer}/reg`);
        const res = await request(latch.url).post('/reg').send(body);
        expect(res.status).to.equal(201);
        expect((await latch.container.queries.clients.find(res.body.client_id))?.source).to.equal('dynamic');
      } finally {
        await latch.close();
      }
    });

    it('LATCH_REGISTRATION=token: only with a live initial access token from the admin', async function () {
      this.timeout(180_000); // may be the first Latch of the run
      const latch = await startLatch({ LATCH_REGISTRATION: 'token' });
      try {
        const commands = createAdminCommands(latch.container);
        const clients = await countRows(latch, 'clients');
        for (const authorization of [undefined, 'Bearer not-a-token', 'Basic Zm9vOmJhcg==']) {
          const req = request(latch.url).post('/reg');
          if (authorization) req.set('Authorization', authorization);
          const res = await req.send(body);
          expect(res.status, authorization).to.be.oneOf([400, 401]);
          expect(res.body.error, authorization).to.be.oneOf(['invalid_token', 'invalid_request']);
        }
        expect(await countRows(latch, 'clients')).to.equal(clients);
        const { token } = await commands['registration-tokens.create']({ expiresIn: 600 });
        const ok = await request(latch.url).post('/reg').set('Authorization', `Bearer ${token}`).send(body);
        expect(ok.status).to.equal(201);
        await commands['registration-tokens.revoke']({ token });
        const revoked = await request(latch.url).post('/reg').set('Authorization', `Bearer ${token}`).send(body);
        expect(revoked.status).to.equal(401);
        expect(await countRows(latch, 'clients')).to.equal(clients + 1);
        expect(await countRows(latch, 'clients', { source: 'dynamic' })).to.equal(1);
      } finally {
        await latch.close();
      }
    });

    it('LATCH_REGISTRATION=closed: no endpoint is advertised and nothing can be registered or managed', async function () {
      this.timeout(180_000); // may be the first Latch of the run
      const latch = await startLatch({ LATCH_REGISTRATION: 'closed' });
      try {
        const discovery = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
        expect(discovery).not.to.have.property('registration_endpoint');
        const clients = await countRows(latch, 'clients');
        const res = await request(latch.url).post('/reg').send(body);
        expect(res.status).to.be.within(400, 499);
        const { clientId } = await latch.container.clients.create({ name: 'Admin App', redirectUris: ['https://app.example.com/cb'] });
        const manage = await request(latch.url).get(`/reg/${clientId}`).set('Authorization', 'Bearer anything');
        expect(manage.status).to.be.within(400, 499);
        expect(await countRows(latch, 'clients')).to.equal(clients + 1);
        expect(await countRows(latch, 'clients', { source: 'dynamic' })).to.equal(0);
      } finally {
        await latch.close();
      }
    });
  });

  describe('with open registration', () => {
    let latch: TestLatch;
    before(async function () {
      this.timeout(180_000); // the first Latch of a run also builds the embedded template
      latch = await startLatch({ LATCH_REGISTRATION: 'open' });
    });
    after(() => latch.close());

    const register = (metadata: Record<string, unknown>) => request(latch.url).post('/reg').send({ client_name: 'Test', ...metadata });

    describe('SECURITY C.20 — redirect URIs: https, loopback or a native custom scheme; no fragments, javascript:, data: or wildcards', () => {
      const refused: Array<[string, Record<string, unknown>]> = [
        ['http on a public host', { redirect_uris: ['http://app.example.com/cb'] }],
        ['a fragment', { redirect_uris: ['https://app.example.com/cb#x'] }],
        ['an empty fragment', { redirect_uris: ['https://app.example.com/cb#'] }],
        ['javascript: (native)', { application_type: 'native', redirect_uris: ['javascript:alert(1)'] }],
        ['JavaScript: in mixed case (native)', { application_type: 'native', redirect_uris: ['JaVaScRiPt:alert(1)'] }],
        ['data: (native)', { application_type: 'native', redirect_uris: ['data:text/html,<script>alert(1)</script>'] }],
        ['vbscript: (native)', { application_type: 'native', redirect_uris: ['vbscript:msgbox(1)'] }],
        ['file: (native)', { application_type: 'native', redirect_uris: ['file:///etc/passwd'] }],
        ['a wildcard host', { redirect_uris: ['https://*.example.com/cb'] }],
        ['a wildcard path', { redirect_uris: ['https://app.example.com/*'] }],
        ['user information', { redirect_uris: ['https://app@evil.example/cb'] }],
        ['a custom scheme on a web client', { redirect_uris: ['com.example.app:/cb'] }],
        ['a relative URI', { redirect_uris: ['/cb'] }],
        ['an empty string', { redirect_uris: [''] }],
        ['a 3000-character URI', { redirect_uris: [`https://app.example.com/${'a'.repeat(3000)}`] }],
        ['a javascript: post_logout_redirect_uri', { redirect_uris: ['https://app.example.com/cb'], post_logout_redirect_uris: ['javascript:alert(1)'] }],
        ['an http post_logout_redirect_uri on a public host', { redirect_uris: ['https://app.example.com/cb'], post_logout_redirect_uris: ['http://app.example.com/bye'] }],
      ];
      for (const [label, metadata] of refused) {
        it(`refuses ${label}; nothing is stored`, async () => {
          const before = await countRows(latch, 'clients');
          const res = await register(metadata);
          expect(res.status).to.equal(400);
          expect(res.body.error).to.be.oneOf(['invalid_redirect_uri', 'invalid_client_metadata']);
          expect(await countRows(latch, 'clients')).to.equal(before);
        });
      }

      it('accepts https, http on loopback, and a custom scheme for a native client', async () => {
        expect((await register({ redirect_uris: ['https://app.example.com/cb'] })).status).to.equal(201);
        const native = await register({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]/cb', 'http://localhost/cb', 'com.example.app:/oauth'] });
        expect(native.status, native.text).to.equal(201);
      });

      it('an update (RFC 7592) is held to the same rules and changes nothing when refused', async () => {
        const created = (await register({ redirect_uris: ['https://app.example.com/cb'] }).expect(201)).body;
        const uri = new URL(created.registration_client_uri).pathname;
        const res = await request(latch.url)
          .put(uri)
          .set('Authorization', `Bearer ${created.registration_access_token}`)
          .send({ client_id: created.client_id, client_secret: created.client_secret, client_name: 'Test', redirect_uris: ['https://app.example.com/cb#evil'] });
        expect(res.status).to.equal(400);
        const row = await latch.container.queries.clients.find(created.client_id);
        expect((row!.metadata as { redirect_uris: string[] }).redirect_uris).to.deep.equal(['https://app.example.com/cb']);
      });

      it('admin-created clients are held to the same rules', async () => {
        for (const uri of ['javascript:alert(1)', 'https://app.example.com/cb#x', 'https://*.example.com/cb', 'http://app.example.com/cb']) {
          let error: unknown;
          try {
            await latch.container.clients.create({ name: 'Admin', redirectUris: [uri] });
          } catch (err) {
            error = err;
          }
          expect((error as { code?: string })?.code, uri).to.equal('invalid_input');
        }
      });
    });

    describe('SECURITY C.21 — logo/tos/policy/client URIs share scheme and host with a redirect URI, or are dropped', () => {
      it('keeps same-origin links and drops foreign, downgraded and script links', async () => {
        const res = await register({
          redirect_uris: ['https://app.example.com/cb'],
          client_uri: 'https://app.example.com/',
          policy_uri: 'https://app.example.com/privacy',
          tos_uri: 'https://evil.example/tos',
          logo_uri: 'http://app.example.com/logo.png',
        });
        expect(res.status).to.equal(201);
        expect(res.body.client_uri).to.equal('https://app.example.com/');
        expect(res.body.policy_uri).to.equal('https://app.example.com/privacy');
        expect(res.body).not.to.have.property('tos_uri');
        expect(res.body).not.to.have.property('logo_uri');
        const stored = (await latch.container.queries.clients.find(res.body.client_id))!.metadata as Record<string, unknown>;
        expect(stored).not.to.have.property('tos_uri');
        expect(stored).not.to.have.property('logo_uri');

        const scripted = await register({ application_type: 'native', redirect_uris: ['com.example.app:/cb'], policy_uri: 'javascript:alert(1)', tos_uri: 'https://app.example.com/tos' });
        expect(scripted.status).to.equal(201);
        expect(scripted.body).not.to.have.property('policy_uri');
        expect(scripted.body).not.to.have.property('tos_uri');
      });

      it('links dropped at registration do not appear on the consent page', async () => {
        const reg = (await register({
          client_name: 'Linked App',
          token_endpoint_auth_method: 'none',
          redirect_uris: ['https://linked.example.com/cb'],
          policy_uri: 'https://linked.example.com/privacy',
          tos_uri: 'https://phish.example/tos',
        }).expect(201)).body;
        await signUpAccount(latch, 'links@example.com');
        const agent = request.agent(latch.url);
        const start = await agent.get('/auth').query(authParams({ clientId: reg.client_id, redirectUri: 'https://linked.example.com/cb' }, pkcePair().challenge, 'st'));
        // stop at the consent page: drive answers it, so sign in by hand
        const signIn = await drive(latch, agent, start, { email: 'links@example.com', consent: 'deny' });
        const consentPage = signIn.responses.find((r) => r.status === 200 && r.text.includes('Allow access?'));
        expect(consentPage, 'consent page').not.to.equal(undefined);
        expect(consentPage!.text).to.include('href="https://linked.example.com/privacy"');
        expect(consentPage!.text).not.to.include('phish.example');
      });
    });

    describe('SECURITY C.23 — registration access tokens rotate on update', () => {
      it('an update returns a new token; the old one stops working; a token manages only its own client', async () => {
        const a = (await register({ redirect_uris: ['https://a.example.com/cb'] }).expect(201)).body;
        const b = (await register({ redirect_uris: ['https://b.example.com/cb'] }).expect(201)).body;
        const uri = new URL(a.registration_client_uri).pathname;
        const updated = await request(latch.url)
          .put(uri)
          .set('Authorization', `Bearer ${a.registration_access_token}`)
          .send({ client_id: a.client_id, client_secret: a.client_secret, client_name: 'Renamed', redirect_uris: ['https://a.example.com/cb'] })
          .expect(200);
        const rotated = updated.body.registration_access_token;
        expect(rotated).to.be.a('string').and.not.equal(a.registration_access_token);
        await request(latch.url).get(uri).set('Authorization', `Bearer ${a.registration_access_token}`).expect(401);
        await request(latch.url)
          .put(uri)
          .set('Authorization', `Bearer ${a.registration_access_token}`)
          .send({ client_id: a.client_id, client_secret: a.client_secret, client_name: 'Hijacked', redirect_uris: ['https://evil.example/cb'] })
          .expect(401);
        expect((await request(latch.url).get(uri).set('Authorization', `Bearer ${rotated}`).expect(200)).body.client_name).to.equal('Renamed');
        // one client's token does not open another client
        await request(latch.url).get(new URL(b.registration_client_uri).pathname).set('Authorization', `Bearer ${rotated}`).expect(401);
        await request(latch.url).delete(new URL(b.registration_client_uri).pathname).set('Authorization', `Bearer ${rotated}`).expect(401);
        expect(await latch.container.queries.clients.find(b.client_id)).not.to.equal(undefined);
      });
    });
  });
});
