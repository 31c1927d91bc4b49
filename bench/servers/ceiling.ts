import http from 'node:http';
import type { AddressInfo } from 'node:net';
import argon2 from 'argon2';
import { createWriteCounter } from '../measure/write-log.js';
import { mintRefreshTokens, type RefreshTokenOwner } from '../seed/refresh-tokens.js';
import { createCeilingProvider, type CeilingInput } from './ceiling-config.js';
import { createPostgresStorage } from './ceiling-postgres.js';
import { announceReady, receive, serveIpc } from './ipc.js';

/**
 * The ceiling server: stock oidc-provider on its own Koa callback, and in front of it only
 * the smallest interaction pages a deployment must write itself (oidc-provider ships none
 * for production): a sign-in form checked with argon2id against the same hash Latch stores,
 * which grants what the app asked for in the same step, and a consent form for sessions that
 * are already signed in (device approvals). No CSRF token, no throttling, no audit.
 *
 * Given a database, it keeps oidc-provider's models there (the stored ceiling,
 * ceiling-postgres.ts) instead of in memory; everything else is the same.
 */
type CeilingStart = CeilingInput & { port: number; storage?: { databaseUrl: string; poolMax: number } };
const input = await receive<CeilingStart>('init');
const writes = createWriteCounter();
const storage = input.storage ? await createPostgresStorage(input.storage.databaseUrl, input.storage.poolMax, writes) : undefined;
const provider = createCeilingProvider(input, writes, storage?.adapter);
const accountsByEmail = new Map(input.people.map((p) => [p.email, p.accountId]));
const callback = provider.callback();

const page = (uid: string, step: 'login' | 'consent') =>
  `<!doctype html><form method="post" action="/interaction/${uid}/${step}">` +
  (step === 'login' ? '<input name="email"><input name="password" type="password">' : '<input type="hidden" name="decision" value="allow">') +
  '<button>Continue</button></form>';

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** A grant for everything the interaction asked for: OIDC scopes and each resource's scopes. */
async function grantFor(details: Awaited<ReturnType<typeof provider.interactionDetails>>, accountId: string) {
  const params = details.params as { client_id: string; scope?: string; resource?: string | string[] };
  const grant = details.grantId ? ((await provider.Grant.find(details.grantId)) ?? undefined) : undefined;
  const target = grant ?? new provider.Grant({ accountId, clientId: params.client_id });
  const scopes = (params.scope ?? '').split(' ').filter(Boolean);
  target.addOIDCScope(scopes.filter((s) => ['openid', 'offline_access', 'profile', 'email'].includes(s)).join(' '));
  const resources = [params.resource ?? []].flat();
  const resourceScopes = scopes.filter((s) => !['openid', 'offline_access', 'profile', 'email'].includes(s)).join(' ');
  for (const resource of resources) if (resourceScopes) target.addResourceScope(resource, resourceScopes);
  return target.save();
}

async function interaction(req: http.IncomingMessage, res: http.ServerResponse, uid: string, step: string | undefined) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET' && !step) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page(uid, details.prompt.name === 'login' ? 'login' : 'consent'));
    return;
  }
  const form = await readForm(req);
  if (req.method === 'POST' && step === 'login') {
    const accountId = accountsByEmail.get(form.get('email') ?? '');
    const ok = await argon2.verify(input.passwordHash, form.get('password') ?? '');
    if (!accountId || !ok) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page(uid, 'login'));
      return;
    }
    const grantId = await grantFor(details, accountId);
    await provider.interactionFinished(req, res, { login: { accountId, remember: true }, consent: { grantId } }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && step === 'consent' && details.session?.accountId) {
    const grantId = await grantFor(details, details.session.accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(404).end();
}

const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|consent))?$/.exec(req.url ?? '');
  if (!match) return callback(req, res);
  interaction(req, res, match[1]!, match[2]).catch((err: Error) => {
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(err.message);
  });
});
server.keepAliveTimeout = 65_000;

await new Promise<void>((resolve) => server.listen(input.port, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

serveIpc(
  {
    async 'mint-refresh-tokens'(message) {
      return mintRefreshTokens(provider, message.owners as RefreshTokenOwner[], message.count as number);
    },
    async 'writes-start'() {
      writes.start();
      return null;
    },
    async 'writes-stop'() {
      return writes.stop();
    },
  },
  async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await storage?.close();
  },
);
announceReady(`http://127.0.0.1:${port}`);
