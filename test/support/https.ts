import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A local https server with a self-signed certificate (localhost, 127.0.0.1, ::1) that only
 * the tests trust: Latch is told about it through config.outboundTrust (see startLatch).
 */
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/tls');
export const TEST_CA_PEM = fs.readFileSync(path.join(dir, 'localhost.crt'), 'utf8');
const TEST_KEY_PEM = fs.readFileSync(path.join(dir, 'localhost.key'), 'utf8');

/** requests holds `host:port/path` of every request that reached the server */
export type TestHttpsServer = { origin: string; port: number; requests: string[]; close(): Promise<void> };

export async function startHttpsServer(handler: http.RequestListener, opts: { host?: string; requests?: string[] } = {}): Promise<TestHttpsServer> {
  const requests = opts.requests ?? [];
  const host = opts.host ?? '127.0.0.1';
  const server = https.createServer({ cert: TEST_CA_PEM, key: TEST_KEY_PEM }, (req, res) => {
    requests.push(`${req.headers.host}${req.url ?? ''}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://${host === '127.0.0.1' ? 'localhost' : host}:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
