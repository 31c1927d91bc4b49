import http from 'node:http';
import { expect } from 'chai';
import * as client from 'openid-client';
import { BlockedFetch, createSafeFetch, isBlockedAddress } from '../../lib/http/safe-fetch.js';
import { freePort } from '../support/latch.js';
import { startUpstreamOp, type TestOp } from '../support/upstream.js';

/**
 * SECURITY.md C.22 — no SSRF from Latch's server-side fetches (upstream discovery, JWKS, token
 * and profile endpoints): loopback, private, link-local and IPv4-mapped addresses are refused,
 * by IP literal and by name; time and size are capped; redirects are not followed.
 */
describe('SECURITY C.22 — server-side fetches', function () {
  let op: TestOp;
  let requestsSeen = 0;
  let server: http.Server;
  let port: number;

  before(async function () {
    op = await startUpstreamOp([{ client_id: 'c', client_secret: 's', redirect_uris: ['https://rp.example.com/cb'] }]);
    port = await freePort();
    server = http.createServer((req, res) => {
      requestsSeen += 1;
      if (req.url === '/slow') return; // never answers
      if (req.url === '/big') return res.end(Buffer.alloc(2 * 1024 * 1024, 97));
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        return res.end();
      }
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  });

  after(async function () {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await op?.close();
  });

  it('classifies loopback, private, link-local, shared, multicast and IPv4-mapped addresses as blocked', function () {
    for (const address of ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::127.0.0.1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '64:ff9b::a9fe:a9fe', 'not-an-ip']) {
      expect(isBlockedAddress(address), address).to.equal(true);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111']) expect(isBlockedAddress(address), address).to.equal(false);
  });

  it('refuses to connect to such addresses, by literal or by a name that resolves to one, and refuses plain http', async function () {
    const safeFetch = createSafeFetch();
    const before = requestsSeen;
    for (const url of [`https://127.0.0.1:${port}/`, `https://localhost:${port}/`, `https://[::1]:${port}/`, `https://[::ffff:127.0.0.1]:${port}/`, 'https://169.254.169.254/latest/meta-data/', 'https://10.0.0.1/', `http://127.0.0.1:${port}/`, `http://example.com/`, 'https://user:pw@example.com/']) {
      const err = await safeFetch(url).then(() => undefined, (e: unknown) => e);
      expect(err, url).to.be.instanceOf(BlockedFetch);
    }
    expect(requestsSeen).to.equal(before);
  });

  it('blocks upstream discovery of an issuer on a loopback address unless the operator listed the host', async function () {
    const options = (privateHosts: string[]) => ({ [client.customFetch]: createSafeFetch({ privateHosts }) as client.CustomFetch, execute: [client.allowInsecureRequests] });
    const refused = await client.discovery(new URL(op.issuer), 'c', 's', undefined, options([])).then(() => undefined, (e: unknown) => e as Error);
    expect(refused).to.be.instanceOf(Error);
    expect(String((refused as { cause?: unknown }).cause ?? refused)).to.match(/BlockedFetch|not allowed|does not connect/);
    // the same discovery succeeds once 127.0.0.1 is listed (LATCH_UPSTREAM_PRIVATE_HOSTS)
    const config = await client.discovery(new URL(op.issuer), 'c', 's', undefined, options(['127.0.0.1']));
    expect(config.serverMetadata().issuer).to.equal(op.issuer);
  });

  it('caps time and size, and does not follow redirects', async function () {
    const safeFetch = createSafeFetch({ privateHosts: ['127.0.0.1'], timeoutMs: 300, maxBytes: 64 * 1024 });
    expect(await safeFetch(`http://127.0.0.1:${port}/slow`).then(() => undefined, (e: unknown) => e)).to.be.instanceOf(BlockedFetch);
    expect(await safeFetch(`http://127.0.0.1:${port}/big`).then(() => undefined, (e: unknown) => e)).to.be.instanceOf(BlockedFetch);
    const redirect = await safeFetch(`http://127.0.0.1:${port}/redirect`);
    expect(redirect.status).to.equal(302);
    expect(await (await safeFetch(`http://127.0.0.1:${port}/`)).json()).to.deep.equal({ ok: true });
  });
});
