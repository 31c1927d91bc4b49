import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import * as jose from 'jose';
import Koa from 'koa';
import request from 'supertest';
import {
  createResourceServer,
  expressMetadata,
  expressProtect,
  koaMetadata,
  koaProtect,
  protectNode,
  type AuthenticatedRequest,
  type ResourceServer,
} from '../../lib/resource-server/index.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson } from '../support/people.js';

/**
 * The resource-server kit. Claim checks run against a small issuer of the test's own (a real
 * HTTP server publishing discovery and a JWKS the test can rotate), so each bad token differs
 * from a good one in exactly one way; then the kit against a real Latch, with its tokens and
 * API keys.
 */
const RESOURCE = 'https://mcp.example.test/mcp';
const RESOURCE_METADATA = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';

type Key = { kid: string; privateKey: CryptoKey; jwk: jose.JWK };
async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

async function listen(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function challengeParams(header: string | undefined) {
  expect(header, 'WWW-Authenticate').to.be.a('string');
  expect(header).to.match(/^Bearer( |$)/);
  return Object.fromEntries([...header!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

const okHandler = (auth: { extra: { sub?: string }; scopes: string[] } | undefined) => ({ sub: auth?.extra.sub, scopes: auth?.scopes });

describe('resource-server kit', () => {
  let issuerUrl: string;
  let issuerServer: http.Server;
  let published: Key[];
  let signing: Key;
  let jwksFetches = 0;
  let rs: ResourceServer;
  const servers: http.Server[] = [];
  let nodeUrl: string;
  let koaUrl: string;
  let expressUrl: string;

  const sign = (key: Key, claims: jose.JWTPayload = {}, opts: { iss?: string; aud?: string; exp?: string | number; typ?: string } = {}) =>
    new jose.SignJWT({ scope: 'tools read', client_id: 'app-1', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: opts.typ ?? 'at+jwt' })
      .setIssuer(opts.iss ?? issuerUrl)
      .setAudience(opts.aud ?? RESOURCE)
      .setSubject('person-1')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(key.privateKey);

  before(async () => {
    signing = await newKey('key-1');
    published = [signing];
    const issuer = await listen((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/oauth-authorization-server') return res.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/jwks` }));
      if (req.url === '/jwks') {
        jwksFetches += 1;
        return res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
      }
      res.writeHead(404).end();
    });
    issuerServer = issuer.server;
    issuerUrl = issuer.url;
    rs = createResourceServer({ issuer: issuerUrl, resource: RESOURCE, scopesSupported: ['tools', 'read'], requiredScopes: ['tools'], jwksCooldownSeconds: 0 });

    const node = await listen(protectNode(rs, (req: AuthenticatedRequest, res) => res.end(JSON.stringify(okHandler(req.auth)))));
    const koa = new Koa();
    koa.use(koaMetadata(rs));
    koa.use(koaProtect(rs));
    koa.use((ctx) => {
      ctx.body = okHandler(ctx.state.auth);
    });
    const koaServer = await listen(koa.callback());
    const app = express();
    app.use(expressMetadata(rs));
    app.get('/mcp', expressProtect(rs), (req, res) => {
      res.json(okHandler((req as AuthenticatedRequest).auth));
    });
    const expressServer = await listen(app);
    servers.push(node.server, koaServer.server, expressServer.server);
    nodeUrl = node.url;
    koaUrl = koaServer.url;
    expressUrl = expressServer.url;
  });
  after(async () => {
    for (const s of [...servers, issuerServer]) s?.close();
  });

  for (const [name, url] of [['node:http', () => nodeUrl], ['Koa', () => koaUrl], ['Express', () => expressUrl]] as const) {
    describe(name, () => {
      it('serves the RFC 9728 metadata at the resource path and at the root', async () => {
        for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
          const res = await request(url()).get(path).expect(200);
          expect(res.body).to.deep.equal({ resource: RESOURCE, authorization_servers: [issuerUrl], scopes_supported: ['tools', 'read'], bearer_methods_supported: ['header'] });
        }
      });

      it('passes a valid token to the handler with its subject and scopes', async () => {
        const res = await request(url()).get('/mcp').set('Authorization', `Bearer ${await sign(signing)}`).expect(200);
        expect(JSON.parse(res.text)).to.deep.equal({ sub: 'person-1', scopes: ['tools', 'read'] });
      });

      it('answers a request without a token 401 with a bare challenge naming the metadata', async () => {
        const res = await request(url()).get('/mcp').expect(401);
        expect(challengeParams(res.headers['www-authenticate'])).to.deep.equal({ scope: 'tools', resource_metadata: RESOURCE_METADATA });
      });

      it('answers a token without the required scope 403 insufficient_scope', async () => {
        const res = await request(url()).get('/mcp').set('Authorization', `Bearer ${await sign(signing, { scope: 'read' })}`).expect(403);
        expect(challengeParams(res.headers['www-authenticate'])).to.include({ error: 'insufficient_scope', scope: 'tools', resource_metadata: RESOURCE_METADATA });
      });
    });
  }

  describe('bad tokens (through node:http)', () => {
    const expectInvalid = async (token: string, description: RegExp) => {
      const res = await request(nodeUrl).get('/mcp').set('Authorization', `Bearer ${token}`).expect(401);
      const params = challengeParams(res.headers['www-authenticate']);
      expect(params).to.include({ error: 'invalid_token', resource_metadata: RESOURCE_METADATA });
      expect(params.error_description).to.match(description);
      expect(JSON.parse(res.text).error).to.equal('invalid_token');
    };

    it('wrong audience', async () => expectInvalid(await sign(signing, {}, { aud: 'https://other.example.test' }), /another audience/));
    it('wrong issuer', async () => expectInvalid(await sign(signing, {}, { iss: 'https://evil.example.test' }), /another issuer/));
    it('expired', async () => expectInvalid(await sign(signing, {}, { exp: Math.floor(Date.now() / 1000) - 60 }), /expired/));
    it('not an access token (typ JWT, e.g. an ID token)', async () => expectInvalid(await sign(signing, {}, { typ: 'JWT' }), /not an access token/));
    it('bad signature: signed by another key under the published kid', async () => {
      const impostor = await newKey('key-1');
      await expectInvalid(await sign(impostor), /signature/);
    });
    it('bad signature: a tampered payload', async () => {
      const [h, p, s] = (await sign(signing)).split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
      payload.scope = 'tools admin';
      await expectInvalid(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, /signature/);
    });
    it('an unsigned token (alg none)', async () => {
      const unsigned = new jose.UnsecuredJWT({ scope: 'tools' }).setIssuer(issuerUrl).setAudience(RESOURCE).setExpirationTime('5m').encode();
      await expectInvalid(unsigned, /algorithm|malformed/);
    });
    it('a sender-constrained (DPoP) token used as a bearer token', async () => expectInvalid(await sign(signing, { cnf: { jkt: 'abc' } }), /sender-constrained/));

    it('an unknown kid after a key rotation: the JWKS is fetched again and the new key is accepted; a kid never published is refused', async () => {
      const before = jwksFetches;
      const rotated = await newKey('key-2');
      published = [signing, rotated];
      await request(nodeUrl).get('/mcp').set('Authorization', `Bearer ${await sign(rotated)}`).expect(200);
      expect(jwksFetches).to.equal(before + 1);
      await expectInvalid(await sign(await newKey('key-never')), /unknown key/);
    });

    it('malformed and hostile Authorization headers get 400 invalid_request', async () => {
      for (const header of ['Bearer', 'Bearer a b', 'Basic dXNlcjpwYXNz', `Bearer ${'a'.repeat(9000)}`, 'Bearer <script>', 'ApiKey not-a-key']) {
        const res = await request(nodeUrl).get('/mcp').set('Authorization', header).expect(400);
        expect(challengeParams(res.headers['www-authenticate'])).to.include({ error: 'invalid_request' });
      }
      await request(nodeUrl).get('/mcp').set('Authorization', 'Bearer x.y.z').set('X-API-Key', 'latch_a_b').expect(400);
      await request(nodeUrl).get('/mcp').set('Authorization', 'Bearer not.a.jwt').expect(401);
    });

    it('an unreachable authorization server is 503 temporarily_unavailable, not a verdict on the token', async () => {
      const closed = await listen(() => undefined);
      closed.server.close();
      const unreachable = createResourceServer({ issuer: closed.url, resource: RESOURCE });
      const result = await unreachable.authenticate({ authorization: `Bearer ${await sign(signing)}` });
      expect(result).to.deep.include({ ok: false, status: 503 });
      expect(result.ok === false && result.headers['www-authenticate']).to.equal(undefined);
    });

    it('an API key where none are configured is 401, without calling anyone', async () => {
      const res = await request(nodeUrl).get('/mcp').set('X-API-Key', 'latch_abc123_secretsecret').expect(401);
      expect(challengeParams(res.headers['www-authenticate']).error_description).to.match(/API keys are not accepted/);
    });
  });

  describe('against a real Latch', () => {
    let latch: TestLatch;
    let latchRs: { clientId: string; clientSecret: string };
    let server: { server: http.Server; url: string };
    let introspecting: ResourceServer;
    let exchanging: ResourceServer;
    const MCP = 'https://mcp.example.test/mcp';
    const OTHER = 'https://other.example.test';

    before(async () => {
      latch = await startLatch();
      await latch.container.resources.add({ identifier: MCP, scopes: ['tools', 'read'] });
      await latch.container.resources.add({ identifier: OTHER, scopes: ['tools'] });
      const client = await latch.container.clients.create({ name: 'MCP server', grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'] });
      latchRs = { clientId: client.clientId, clientSecret: client.clientSecret! };
      introspecting = createResourceServer({ issuer: latch.issuer, resource: MCP, requiredScopes: ['tools'], apiKeys: { ...latchRs, via: 'introspection' } });
      exchanging = createResourceServer({ issuer: latch.issuer, resource: MCP, requiredScopes: ['tools'], apiKeys: { ...latchRs, via: 'exchange' } });
      server = await listen(async (req, res) => {
        const kit = req.url === '/exchange' ? exchanging : introspecting;
        const result = await kit.authenticate(req.headers);
        res.writeHead(result.ok ? 200 : result.status, result.ok ? { 'content-type': 'application/json' } : result.headers);
        res.end(JSON.stringify(result.ok ? { sub: result.auth.extra.sub, kind: result.auth.extra.kind, scopes: result.auth.scopes } : result.body));
      });
    });
    after(async () => {
      server?.server.close();
      await latch?.close();
    });

    const clientCredentialsToken = async (resource: string) =>
      (await request(latch.url).post('/token').auth(latchRs.clientId, latchRs.clientSecret).type('form').send({ grant_type: 'client_credentials', resource, scope: 'tools' }).expect(200)).body.access_token as string;

    it("accepts Latch's JWT for this resource and refuses one for another audience", async () => {
      const ok = await request(server.url).get('/').set('Authorization', `Bearer ${await clientCredentialsToken(MCP)}`).expect(200);
      expect(ok.body).to.deep.equal({ sub: latchRs.clientId, kind: 'jwt', scopes: ['tools'] });
      const other = await request(server.url).get('/').set('Authorization', `Bearer ${await clientCredentialsToken(OTHER)}`).expect(401);
      expect(other.headers['www-authenticate']).to.include('error="invalid_token"');
    });

    it('accepts API keys by introspection and by exchange; refuses a key for another resource, a revoked key and an unknown one', async () => {
      const person = await createPerson(latch, 'kit-keys@example.com');
      const key = (await latch.container.apiKeys.admin.create({ owner: person.email, name: 'bot', scopes: ['tools'], resource: MCP })) as { id: string; key: string };
      const otherKey = (await latch.container.apiKeys.admin.create({ owner: person.email, name: 'other', scopes: ['tools'], resource: OTHER })) as { key: string };
      for (const [path, header] of [['/', 'X-API-Key'], ['/exchange', 'Authorization']] as const) {
        const value = header === 'Authorization' ? `ApiKey ${key.key}` : key.key;
        const res = await request(server.url).get(path).set(header, value).expect(200);
        expect(res.body).to.deep.equal({ sub: person.id, kind: 'api-key', scopes: ['tools'] });
        await request(server.url).get(path).set('X-API-Key', otherKey.key).expect(401);
        await request(server.url).get(path).set('X-API-Key', 'latch_abcdefabcdef_notarealsecretnotarealsecret').expect(401);
      }
      await latch.container.apiKeys.admin.revoke(key.id);
      const revoked = await request(server.url).get('/').set('Authorization', `Bearer ${key.key}`).expect(401);
      expect(revoked.headers['www-authenticate']).to.include('error="invalid_token"');
    });
  });
});
