import type http from 'node:http';
import { expect } from 'chai';
import request from 'supertest';
import { loadConfig } from '../../lib/config/config.js';
import { hostAllowed } from '../../lib/oidc/client-metadata-documents.js';
import { startHttpsServer, TEST_CA_PEM, type TestHttpsServer } from '../support/https.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, pkcePair, redeem } from '../support/people.js';

/**
 * Client ID Metadata Documents: an https URL as client_id. Latch trusts the test's
 * self-signed CA and lets the host "localhost" (only) reach loopback; every other rule is the
 * production one. Each refusal is shown to happen before the document server sees a request,
 * or on what it served.
 */
const REDIRECT_URI = 'https://app.example.com/cb';
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

describe('client ID metadata documents', () => {
  let latch: TestLatch;
  let docs: TestHttpsServer;
  let other: TestHttpsServer; // 127.0.0.2: loopback, not exempt
  const requests: string[] = [];

  const handler: http.RequestListener = (req, res) => {
    const self = `https://${req.headers.host}${req.url}`;
    const send = (body: string, headers: Record<string, string> = {}) => {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(body);
    };
    const document = (extra: object = {}) =>
      JSON.stringify({ client_id: self, client_name: 'Docs App', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], ...extra });
    switch (req.url) {
      case '/good.json':
      case '/denied.json':
        return send(document(), { 'cache-control': 'public, max-age=3600' });
      case '/mismatch.json':
        return send(document({ client_id: `${docs.origin}/someone-else.json` }));
      case '/big.json':
        return send(document({ padding: 'x'.repeat(6 * 1024) }));
      case '/big-chunked.json':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(document().slice(0, -1));
        res.write(`,"padding":"${'y'.repeat(8 * 1024)}"`);
        return res.end('}');
      case '/secret.json':
        return send(document({ token_endpoint_auth_method: 'client_secret_basic', client_secret: 'shh' }));
      case '/slow.json':
        return; // never answers: oidc-provider gives up after 2.5 s
      case '/redirect.json':
        res.writeHead(302, { location: `${other.origin}/good.json` });
        return res.end();
      default:
        res.writeHead(404).end();
    }
  };

  before(async () => {
    docs = await startHttpsServer(handler, { requests });
    other = await startHttpsServer(handler, { host: '127.0.0.2', requests });
    latch = await startLatch({ LATCH_CIMD_DENIED_HOSTS: 'blocked.example, 127.0.0.1' }, undefined, {
      outboundTrust: { extraCaPem: TEST_CA_PEM, loopbackHosts: ['localhost', '127.0.0.1'] },
    });
  });
  after(async () => {
    await latch?.close();
    await docs?.close();
    await other?.close();
  });

  async function startAuthorization(clientId: string, agent = request.agent(latch.url)) {
    const { verifier, challenge } = await pkcePair();
    const res = await agent.get('/auth').query({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st',
    });
    return { res, verifier, agent };
  }

  async function expectRefused(clientId: string) {
    const { res } = await startAuthorization(clientId);
    expect(res.status, res.text.slice(0, 200)).to.equal(400);
    expect(res.headers.location).to.equal(undefined);
    expect(res.text).to.include('invalid_client');
  }

  const fetched = (hostAndPath: string) => requests.filter((r) => r === hostAndPath).length;

  it('discovery says metadata documents are supported', async () => {
    const res = await request(latch.url).get('/.well-known/oauth-authorization-server').expect(200);
    expect(res.body.client_id_metadata_document_supported).to.equal(true);
  });

  it('a client identified by its document signs a person in; the consent page names its host; the document is fetched once', async () => {
    const clientId = `${docs.origin}/good.json`;
    const person = await createPerson(latch, 'cimd-person@example.com');
    let { res, verifier, agent } = await startAuthorization(clientId);
    expect(res.status).to.equal(303);
    let consentPage = '';
    for (let hops = 0; hops < 10 && !res.headers.location?.startsWith(REDIRECT_URI); hops += 1) {
      if (res.status === 303 || res.status === 302) {
        const next = new URL(res.headers.location!, latch.url);
        res = await agent.get(next.pathname + next.search);
        continue;
      }
      const uid = /\/interaction\/([\w-]+)\//.exec(res.text)![1];
      if (res.text.includes(`/interaction/${uid}/login`)) {
        res = await agent.post(`/interaction/${uid}/login`).type('form').send({ _csrf: csrfOf(res.text), email: person.email, password: person.password });
      } else {
        consentPage = res.text;
        res = await agent.post(`/interaction/${uid}/consent`).type('form').send({ _csrf: csrfOf(res.text), decision: 'allow' });
      }
    }
    expect(consentPage).to.include('Docs App');
    expect(consentPage).to.include(`identified by <strong>localhost:${docs.port}</strong>`);
    const code = new URL(res.headers.location!).searchParams.get('code')!;
    const tokens = await redeem(latch, clientId, REDIRECT_URI, code, verifier);
    expect(tokens.access_token).to.be.a('string');

    // a second authorization request is served from the cache (max-age=3600)
    expect((await startAuthorization(clientId)).res.status).to.equal(303);
    expect(fetched(`localhost:${docs.port}/good.json`)).to.equal(1);
  });

  it('refuses an http URL without fetching it', async () => {
    await expectRefused(`http://localhost:${docs.port}/good.json`);
    expect(requests.filter((r) => r.endsWith('/good.json'))).to.have.length(1);
  });

  it('refuses a host that resolves to a private (loopback) address: no request reaches it', async () => {
    await expectRefused(`${other.origin}/good.json`);
    expect(fetched(`127.0.0.2:${other.port}/good.json`)).to.equal(0);
  });

  it('refuses a redirect, here to a private address, and never follows it', async () => {
    await expectRefused(`${docs.origin}/redirect.json`);
    expect(fetched(`localhost:${docs.port}/redirect.json`)).to.be.greaterThan(0);
    expect(fetched(`127.0.0.2:${other.port}/good.json`)).to.equal(0);
  });

  it('refuses an oversized document, with or without a Content-Length', async () => {
    await expectRefused(`${docs.origin}/big.json`);
    await expectRefused(`${docs.origin}/big-chunked.json`);
    expect(fetched(`localhost:${docs.port}/big.json`)).to.be.greaterThan(0);
    expect(fetched(`localhost:${docs.port}/big-chunked.json`)).to.be.greaterThan(0);
  });

  it('gives up on a server that does not answer in time', async () => {
    await expectRefused(`${docs.origin}/slow.json`);
    expect(fetched(`localhost:${docs.port}/slow.json`)).to.be.greaterThan(0);
  });

  it('refuses a document whose client_id is not its own URL', async () => {
    await expectRefused(`${docs.origin}/mismatch.json`);
    expect(fetched(`localhost:${docs.port}/mismatch.json`)).to.be.greaterThan(0);
  });

  it('refuses a document that claims a shared secret', async () => {
    await expectRefused(`${docs.origin}/secret.json`);
  });

  it('refuses a host on LATCH_CIMD_DENIED_HOSTS without fetching it', async () => {
    // 127.0.0.1 is exempt from the loopback rule here, so only the deny list stops it
    await expectRefused(`https://127.0.0.1:${docs.port}/denied.json`);
    expect(fetched(`127.0.0.1:${docs.port}/denied.json`)).to.equal(0);
  });

  it('refuses hostile client_id URLs (credentials, fragments, dot segments, oversized) with 400', async () => {
    for (const id of [
      `https://user@localhost:${docs.port}/good.json`,
      `${docs.origin}/good.json#frag`,
      `${docs.origin}/a/../good.json`,
      `${docs.origin}/${'a'.repeat(5000)}.json`,
      `https://blocked.example/client.json`,
    ]) {
      const { res } = await startAuthorization(id);
      expect(res.status, id).to.equal(400);
      expect(res.headers.location).to.equal(undefined);
    }
  });

  it('a registered client keeps only OpenID scopes in its scope: an MCP client registering "mcp:tools" is accepted', async () => {
    const res = await request(latch.url)
      .post('/reg')
      .send({ client_name: 'MCP client', redirect_uris: ['http://127.0.0.1:5555/cb'], token_endpoint_auth_method: 'none', scope: 'openid mcp:tools offline_access' })
      .expect(201);
    expect(res.body.scope).to.equal('openid offline_access');
    const only = await request(latch.url).post('/reg').send({ client_name: 'MCP client', redirect_uris: ['http://127.0.0.1:5555/cb'], token_endpoint_auth_method: 'none', scope: 'mcp:tools' }).expect(201);
    expect(only.body).to.not.have.property('scope');
  });
});

describe('client ID metadata document host lists', () => {
  it('LATCH_CIMD_* settings parse into the policy; the deny list wins; *.host matches subdomains only', () => {
    const config = loadConfig({ LATCH_CIMD_ALLOWED_HOSTS: 'apps.example.com, *.Tools.Example', LATCH_CIMD_DENIED_HOSTS: 'bad.tools.example' });
    const policy = config.clientMetadataDocuments;
    expect(policy).to.deep.equal({ enabled: true, allowedHosts: ['apps.example.com', '*.tools.example'], deniedHosts: ['bad.tools.example'] });
    expect(hostAllowed(policy, 'https://apps.example.com/c.json')).to.equal(true);
    expect(hostAllowed(policy, 'https://a.tools.example/c.json')).to.equal(true);
    expect(hostAllowed(policy, 'https://tools.example/c.json')).to.equal(false);
    expect(hostAllowed(policy, 'https://bad.tools.example/c.json')).to.equal(false);
    expect(hostAllowed(policy, 'https://eviltools.example/c.json')).to.equal(false);
    expect(hostAllowed(policy, 'https://other.example.com/c.json')).to.equal(false);
    expect(loadConfig({ LATCH_CIMD: 'off' }).clientMetadataDocuments.enabled).to.equal(false);
    expect(() => loadConfig({ LATCH_CIMD: 'maybe' })).to.throw('LATCH_CIMD');
  });
});
