import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Browser, Page } from 'playwright-core';
import { startExampleServer, TOOLS_SCOPE } from '../../examples/mcp-server/server.js';
import { launchBrowser, requireBrowserOrSkip } from '../support/browser.js';
import { startCallbackServer } from '../support/callback-server.js';
import { startHttpsServer, TEST_CA_PEM, type TestHttpsServer } from '../support/https.js';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, type Person } from '../support/people.js';

/**
 * The official MCP SDK client against the example MCP server and Latch, with nothing
 * provisioned for the client: it finds Latch from the server's 401 (RFC 9728 → RFC 8414),
 * registers dynamically (RFC 7591) or names itself by a metadata document served here over
 * https, and sends the person (Chromium) through sign-in and consent with PKCE.
 */
class BrowserOAuthProvider implements OAuthClientProvider {
  private info?: OAuthClientInformationMixed;
  private saved?: OAuthTokens;
  private verifier = '';
  authorizationUrl?: URL;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
    readonly clientMetadataUrl?: string,
  ) {}

  clientInformation() { return this.info; }
  saveClientInformation(info: OAuthClientInformationMixed) { this.info = info; }
  tokens() { return this.saved; }
  saveTokens(tokens: OAuthTokens) { this.saved = tokens; }
  redirectToAuthorization(url: URL) { this.authorizationUrl = url; }
  saveCodeVerifier(verifier: string) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
}

describe('MCP clients connect with no admin step (official SDK, Chromium)', function () {
  let browser: Browser;
  let latch: TestLatch;
  let mcp: Awaited<ReturnType<typeof startExampleServer>>;
  let callback: { url: string; close(): Promise<void> };
  let docs: TestHttpsServer;
  let person: Person;
  let resource: string;
  let otherAudienceToken: string;
  let redirectUrl: string;
  const clientMetadata = (name: string): OAuthClientMetadata => ({
    client_name: name,
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });

  before(async function () {
    requireBrowserOrSkip(this);
    callback = await startCallbackServer();
    redirectUrl = `${callback.url}/callback`;
    docs = await startHttpsServer((req, res) => {
      if (req.url !== '/mcp-client.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
      res.end(JSON.stringify({ client_id: `${docs.origin}/mcp-client.json`, ...clientMetadata('Documented MCP Client') }));
    });
    latch = await startLatch({}, undefined, { outboundTrust: { extraCaPem: TEST_CA_PEM, loopbackHosts: ['localhost'] } });
    const port = await freePort();
    resource = `http://localhost:${port}/mcp`;
    // the one admin step is the MCP server's own: registering it as a resource
    await latch.container.resources.add({ identifier: resource, scopes: [TOOLS_SCOPE], name: 'Example MCP server' });
    await latch.container.resources.add({ identifier: 'https://elsewhere.example.test', scopes: [TOOLS_SCOPE] });
    mcp = await startExampleServer({ issuer: latch.issuer, resource, port });
    person = await createPerson(latch, 'mcp-user@example.com');

    const other = await latch.container.clients.create({ name: 'Elsewhere', grantTypes: ['client_credentials'] });
    const res = await fetch(`${latch.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${other.clientId}:${other.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://elsewhere.example.test', scope: TOOLS_SCOPE }),
    });
    otherAudienceToken = ((await res.json()) as { access_token: string }).access_token;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await mcp?.close();
    await latch?.close();
    await callback?.close();
    await docs?.close();
  });

  /** The person's part, in Chromium: sign in, read the consent page, allow. Returns the code and the consent text. */
  async function personApproves(page: Page, authorizationUrl: URL) {
    await page.goto(authorizationUrl.href);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    const consent = await page.locator('main').innerText();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${redirectUrl}?**`);
    const code = new URL(page.url()).searchParams.get('code');
    expect(code, page.url()).to.be.a('string');
    return { code: code!, consent };
  }

  async function connectAndCallTool(provider: BrowserOAuthProvider) {
    const url = new URL(resource);
    const first = new Client({ name: 'latch-test', version: '1.0.0' });
    let refused: unknown;
    try {
      await first.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    } catch (err) {
      refused = err;
    }
    expect(refused).to.be.instanceOf(UnauthorizedError);
    expect(provider.authorizationUrl, 'the SDK asked to send the person to Latch').to.be.instanceOf(URL);
    expect(provider.authorizationUrl!.origin).to.equal(latch.issuer);
    expect(provider.authorizationUrl!.searchParams.get('code_challenge_method')).to.equal('S256');
    expect(provider.authorizationUrl!.searchParams.get('resource')).to.equal(resource);

    const context = await browser.newContext();
    const { code, consent } = await personApproves(await context.newPage(), provider.authorizationUrl!);
    await context.close();
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
    await transport.finishAuth(code);

    const mcpClient = new Client({ name: 'latch-test', version: '1.0.0' });
    await mcpClient.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    const sum = await mcpClient.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
    expect(sum.content).to.deep.equal([{ type: 'text', text: '42' }]);
    const who = await mcpClient.callTool({ name: 'whoami', arguments: {} });
    const whoami = JSON.parse((who.content as Array<{ text: string }>)[0]!.text);
    expect(whoami).to.deep.include({ sub: person.id, clientId: provider.clientInformation()!.client_id });
    expect(whoami.scopes).to.include(TOOLS_SCOPE);
    await mcpClient.close();
    return { consent, accessToken: provider.tokens()!.access_token };
  }

  async function callToolWith(token: string) {
    return fetch(resource, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add', arguments: { a: 2, b: 40 } } }),
    });
  }

  async function expectOtherAudienceRefused() {
    const res = await callToolWith(otherAudienceToken);
    expect(res.status).to.equal(401);
    expect(res.headers.get('www-authenticate')).to.include('error="invalid_token"').and.include(`resource_metadata="http://localhost:${new URL(resource).port}/.well-known/oauth-protected-resource/mcp"`);
  }

  it('with dynamic client registration: a tool call succeeds; the same call with a token for another audience is refused', async () => {
    const provider = new BrowserOAuthProvider(redirectUrl, clientMetadata('Registered MCP Client'));
    const { consent, accessToken } = await connectAndCallTool(provider);
    expect(consent).to.include('Registered MCP Client');
    expect(consent).to.include('registered itself');
    expect((await callToolWith(accessToken)).status).to.equal(200);
    await expectOtherAudienceRefused();
  });

  it('with a client ID metadata document over https: a tool call succeeds; the consent page names the host', async () => {
    const clientId = `${docs.origin}/mcp-client.json`;
    const provider = new BrowserOAuthProvider(redirectUrl, clientMetadata('Documented MCP Client'), clientId);
    const { consent } = await connectAndCallTool(provider);
    expect(provider.clientInformation()!.client_id).to.equal(clientId);
    expect(consent).to.include('Documented MCP Client');
    expect(consent).to.include(`identified by localhost:${docs.port}`);
    expect(docs.requests.filter((r) => r.endsWith('/mcp-client.json')).length).to.be.greaterThan(0);
    await expectOtherAudienceRefused();
  });
});
