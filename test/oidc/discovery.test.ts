import { expect } from 'chai';
import request from 'supertest';
import { discover } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';

describe('discovery', () => {
  let latch: TestLatch;
  before(async () => {
    latch = await startLatch();
  });
  after(() => latch.close());

  it('serves OpenID and RFC 8414 documents that agree with each other and the issuer', async () => {
    const oidc = (await request(latch.url).get('/.well-known/openid-configuration').expect(200)).body;
    const oauth = (await request(latch.url).get('/.well-known/oauth-authorization-server').expect(200)).body;
    expect(oidc.issuer).to.equal(latch.issuer);
    expect(oauth.issuer).to.equal(latch.issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'registration_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'device_authorization_endpoint']) {
      expect(oidc[key], key).to.be.a('string').and.satisfy((u: string) => u.startsWith(`${latch.issuer}/`));
      expect(oauth[key], key).to.equal(oidc[key]);
    }
    expect(oidc.code_challenge_methods_supported).to.deep.equal(['S256']);
    expect(oidc.response_types_supported).to.deep.equal(['code']);
    expect(oidc.grant_types_supported).to.include.members(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']);
    expect(oidc.grant_types_supported).not.to.include.members(['implicit', 'password']);
    expect(oidc.authorization_response_iss_parameter_supported).to.equal(true);
  });

  it('is accepted by openid-client', async () => {
    const config = await discover(latch.issuer, 'any-client');
    expect(config.serverMetadata().issuer).to.equal(latch.issuer);
  });

  it('publishes ES256 and RS256 public keys only', async () => {
    const jwks = (await request(latch.url).get('/jwks').expect(200)).body;
    const algs = jwks.keys.map((k: { alg: string }) => k.alg);
    expect(algs).to.include.members(['ES256', 'RS256']);
    for (const key of jwks.keys) {
      expect(key).to.have.property('kid');
      for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.to.have.property(privatePart);
    }
  });

  it('describes its own API as a protected resource (RFC 9728) at the root and path-derived locations', async () => {
    const root = (await request(latch.url).get('/.well-known/oauth-protected-resource').expect(200)).body;
    const derived = (await request(latch.url).get('/.well-known/oauth-protected-resource/api/v1').expect(200)).body;
    expect(root).to.deep.equal(derived);
    expect(root.resource).to.equal(`${latch.issuer}/api/v1`);
    expect(root.authorization_servers).to.deep.equal([latch.issuer]);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await request(latch.url).get('/healthz').expect(200)).body.status).to.equal('ok');
    expect((await request(latch.url).get('/readyz').expect(200)).body.database).to.equal('ok');
  });
});
