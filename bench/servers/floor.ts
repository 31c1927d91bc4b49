import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import argon2 from 'argon2';
import * as jose from 'jose';
import { announceReady, receive, serveIpc } from './ipc.js';

/**
 * The floor: plain node:http, no framework, no storage. POST /jwt signs an RFC 9068-shaped
 * ES256 JWT with a key imported once (the cryptography Latch cannot avoid); POST /argon2
 * verifies the bench password against the argon2id hash Latch stores for it, at the same
 * parameters (what one password sign-in cannot avoid: its rate is the machine's hashes/s);
 * anything else answers a small JSON echo (the cost of HTTP and JSON alone).
 */
type Init = { issuer: string; signingJwk: jose.JWK; passwordHash: string; password: string };

const init = await receive<Init>('init');
const key = await jose.importJWK(init.signingJwk, 'ES256');
const kid = init.signingJwk.kid;
const TOKEN_TTL_SECONDS = 600;

async function signAccessToken(form: URLSearchParams): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const clientId = 'floor';
  return new jose.SignJWT({ client_id: clientId, scope: form.get('scope') ?? undefined })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...(kid ? { kid } : {}) })
    .setIssuer(init.issuer)
    .setSubject(clientId)
    .setAudience(form.get('resource') ?? init.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_TTL_SECONDS)
    .setJti(crypto.randomBytes(32).toString('base64url'))
    .sign(key);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

const server = http.createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    if (req.method === 'POST' && req.url === '/jwt') {
      const form = new URLSearchParams(body);
      const accessToken = await signAccessToken(form);
      json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: TOKEN_TTL_SECONDS, scope: form.get('scope') ?? undefined });
      return;
    }
    if (req.method === 'POST' && req.url === '/argon2') {
      const ok = await argon2.verify(init.passwordHash, init.password);
      json(res, ok ? 200 : 500, { verified: ok });
      return;
    }
    json(res, 200, { method: req.method, path: req.url, authenticated: !!req.headers.authorization, bytes: body.length });
  } catch {
    json(res, 500, { error: 'server_error' });
  }
});
server.keepAliveTimeout = 65_000;

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

serveIpc({}, async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
announceReady(`http://127.0.0.1:${port}`);
