import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../lib/config/config.js';
import { runNode, repoRoot } from '../support/cli.js';

describe('configuration', () => {
  it('has safe defaults for local use', () => {
    const config = loadConfig({});
    expect(config.port).to.equal(3000);
    expect(config.issuer).to.equal('http://localhost:3000');
    expect(config.database.kind).to.equal('embedded');
    expect(config.registration).to.equal('open');
    expect(config.signup).to.equal('open');
    expect(config.mfa).to.equal('optional');
    expect(config.trustProxy).to.equal(false);
    expect(config.autoMigrate).to.equal(true);
    expect(config.keyRefreshIntervalSeconds).to.equal(30);
  });

  it('enables an upstream provider only when both its client id and secret are set', () => {
    expect(loadConfig({}).upstream.providers).to.deep.equal([]);
    expect(loadConfig({ GITHUB_CLIENT_ID: 'id-only', GOOGLE_CLIENT_SECRET: 'secret-only' }).upstream.providers).to.deep.equal([]);
    const config = loadConfig({
      GITHUB_CLIENT_ID: 'gh', GITHUB_CLIENT_SECRET: 'ghs', GITHUB_BASE_URL: 'https://github.corp.example/',
      MICROSOFT_CLIENT_ID: 'ms', MICROSOFT_CLIENT_SECRET: 'mss', MICROSOFT_TENANT: 'contoso.onmicrosoft.com',
      LATCH_UPSTREAM_KEY_CLOAK_ISSUER: 'https://sso.example.com/realms/main', LATCH_UPSTREAM_KEY_CLOAK_CLIENT_ID: 'kc', LATCH_UPSTREAM_KEY_CLOAK_CLIENT_SECRET: 'kcs',
      LATCH_UPSTREAM_PRIVATE_HOSTS: 'SSO.internal, 10.0.0.5',
    });
    expect(config.upstream.providers.map((p) => [p.id, p.name, 'issuer' in p ? p.issuer : p.baseUrl])).to.deep.equal([
      ['github', 'GitHub', 'https://github.corp.example'],
      ['microsoft', 'Microsoft', 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0'],
      ['key-cloak', 'key-cloak', 'https://sso.example.com/realms/main'],
    ]);
    expect(config.upstream.privateHosts).to.deep.equal(['sso.internal', '10.0.0.5']);
  });

  it('prepares statements on PostgreSQL unless told not to (for a pooler that cannot keep them)', () => {
    const url = 'postgres://localhost/latch';
    expect(loadConfig({ DATABASE_URL: url }).database).to.include({ kind: 'postgres', preparedStatements: true });
    expect(loadConfig({ DATABASE_URL: url, DATABASE_PREPARED_STATEMENTS: 'false' }).database).to.include({ kind: 'postgres', preparedStatements: false });
  });

  it('parses lifetimes in seconds or with a unit', () => {
    const config = loadConfig({ LATCH_ACCESS_TOKEN_TTL: '15m', LATCH_REFRESH_TOKEN_TTL: '30d', LATCH_ID_TOKEN_TTL: '600' });
    expect(config.ttl.accessToken).to.equal(900);
    expect(config.ttl.refreshToken).to.equal(30 * 86400);
    expect(config.ttl.idToken).to.equal(600);
  });

  const bad: Array<[string, Record<string, string>]> = [
    ['ISSUER', { ISSUER: 'not-a-url' }],
    ['ISSUER', { ISSUER: 'https://x.example/?q=1' }],
    ['PORT', { PORT: 'eighty' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['LATCH_REGISTRATION', { LATCH_REGISTRATION: 'sometimes' }],
    ['LATCH_ACCESS_TOKEN_TTL', { LATCH_ACCESS_TOKEN_TTL: '15 minutes' }],
    ['LATCH_TRUST_PROXY', { LATCH_TRUST_PROXY: 'maybe' }],
    ['DATABASE_PREPARED_STATEMENTS', { DATABASE_URL: 'postgres://localhost/latch', DATABASE_PREPARED_STATEMENTS: 'sometimes' }],
    ['LATCH_KEY_REFRESH_INTERVAL', { LATCH_KEY_REFRESH_INTERVAL: '5m' }],
    ['LATCH_KEY_REFRESH_INTERVAL', { LATCH_KEY_REFRESH_INTERVAL: '0' }],
    // 30 days overflows a timer, which Node then fires every millisecond
    ['LATCH_PRUNE_INTERVAL', { LATCH_PRUNE_INTERVAL: '30d' }],
    ['LATCH_PRUNE_INTERVAL', { LATCH_PRUNE_INTERVAL: '0' }],
    ['LATCH_SECRET', { LATCH_SECRET: 'short' }],
    ['LATCH_SECRET', { NODE_ENV: 'production', ISSUER: 'https://id.example.com' }],
    ['ISSUER', { NODE_ENV: 'production', ISSUER: 'http://id.example.com', LATCH_SECRET: 'x'.repeat(40) }],
    ['GITHUB_BASE_URL', { GITHUB_BASE_URL: 'github.example.com' }],
    ['MICROSOFT_TENANT', { MICROSOFT_TENANT: '../evil' }],
    ['LATCH_UPSTREAM_OKTA_', { LATCH_UPSTREAM_OKTA_ISSUER: 'https://okta.example.com' }],
    ['LATCH_UPSTREAM_OKTA_ISSUER', { LATCH_UPSTREAM_OKTA_ISSUER: 'ftp://okta.example.com', LATCH_UPSTREAM_OKTA_CLIENT_ID: 'a', LATCH_UPSTREAM_OKTA_CLIENT_SECRET: 'b' }],
    ['LATCH_UPSTREAM_GITHUB_', { LATCH_UPSTREAM_GITHUB_ISSUER: 'https://x.example', LATCH_UPSTREAM_GITHUB_CLIENT_ID: 'a', LATCH_UPSTREAM_GITHUB_CLIENT_SECRET: 'b' }],
  ];
  for (const [variable, env] of bad) {
    it(`names ${variable} when it is wrong (${JSON.stringify(env)})`, () => {
      expect(() => loadConfig(env)).to.throw(ConfigError, variable);
    });
  }

  it('`npm start` with ISSUER=not-a-url exits non-zero and names the variable', async function () {
    this.timeout(30_000);
    const res = await runNode(['--import', 'tsx', `${repoRoot}/lib/main.ts`], { ISSUER: 'not-a-url', LATCH_DATA_DIR: '/nonexistent-should-not-be-created' });
    expect(res.code).to.equal(2);
    expect(res.stderr).to.include('ISSUER');
  });
});
