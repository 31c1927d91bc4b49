import crypto from 'node:crypto';
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import request from 'supertest';
import { freePort, type TestLatch } from './latch.js';
import type { HostedPages } from './hosted-pages.js';

/**
 * Upstream identity providers for tests, on 127.0.0.1:
 * - a second, real oidc-provider acting as an OpenID provider (Google, Microsoft, Okta…);
 *   whoever the test names in `op.person` is signed in there without a form, or `op.deny`
 *   makes it answer access_denied, or `op.tamperIdToken` breaks the ID token's signature;
 * - a stand-in of GitHub's OAuth endpoints and its `/user`, `/user/emails` REST API, served
 *   under /api/v3 as GitHub Enterprise Server does.
 */
export type UpstreamPerson = { sub: string; email?: string; email_verified?: boolean; name?: string };

export type TestOp = {
  issuer: string;
  person?: UpstreamPerson;
  deny?: boolean;
  tamperIdToken?: boolean;
  close(): Promise<void>;
};

/** The upstream provider's storage: a Map per test provider (it lives as long as the test). */
function memoryAdapter() {
  const store = new Map<string, Record<string, unknown>>();
  return class MemoryAdapter {
    constructor(private readonly model: string) {}
    private key = (id: string) => `${this.model}:${id}`;
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(this.key(id), payload);
    }
    async find(id: string) {
      return store.get(this.key(id));
    }
    async findByUid(uid: string) {
      return [...store.values()].find((p) => p.uid === uid);
    }
    async findByUserCode(userCode: string) {
      return [...store.values()].find((p) => p.userCode === userCode);
    }
    async consume(id: string) {
      const payload = store.get(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, payload] of store) if (payload.grantId === grantId) store.delete(key);
    }
  };
}

export async function startUpstreamOp(clients: Array<{ client_id: string; client_secret: string; redirect_uris: string[] }>): Promise<TestOp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const op: Partial<TestOp> = { issuer };
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({ ...c, token_endpoint_auth_method: 'client_secret_post', grant_types: ['authorization_code'], response_types: ['code'] })),
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'upstream-test', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    conformIdTokenClaims: false,
    adapter: memoryAdapter(),
    ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    findAccount: async (_ctx: KoaContextWithOIDC, sub: string) => {
      const person = op.person;
      if (!person || person.sub !== sub) return undefined;
      return { accountId: sub, claims: async () => ({ ...person }) };
    },
    // no consent screen upstream: every requested scope is granted
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  } as never);
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.path === '/token' && op.tamperIdToken && body?.id_token) {
      const [header, payload, signature] = body.id_token.split('.');
      body.id_token = [header, payload, `${signature!.slice(0, -6)}AAAAAA`].join('.');
    }
  });

  const server = http.createServer(async (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      try {
        const result = op.deny || !op.person
          ? { error: 'access_denied', error_description: 'The person said no' }
          : { login: { accountId: op.person.sub } };
        await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      } catch (err) {
        res.statusCode = 400;
        res.end(String(err));
      }
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  op.close = () => closeServer(server);
  return op as TestOp;
}

export type GithubUser = { id: number; login: string; name?: string; emails: Array<{ email: string; primary: boolean; verified: boolean }> };

export type TestGithub = { baseUrl: string; user?: GithubUser; close(): Promise<void> };

/** GitHub's OAuth (with PKCE) and REST API as a GitHub Enterprise Server at baseUrl. */
export async function startGithubStandIn(client: { clientId: string; clientSecret: string }): Promise<TestGithub> {
  const port = await freePort();
  const gh: Partial<TestGithub> = { baseUrl: `http://127.0.0.1:${port}` };
  const codes = new Map<string, { user: GithubUser; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, GithubUser>();

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', gh.baseUrl);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/login/oauth/authorize') {
      const redirect = new URL(url.searchParams.get('redirect_uri')!);
      if (url.searchParams.get('client_id') !== client.clientId || url.searchParams.get('code_challenge_method') !== 'S256' || !gh.user) {
        redirect.searchParams.set('error', 'access_denied');
      } else {
        const code = crypto.randomBytes(16).toString('hex');
        codes.set(code, { user: gh.user, challenge: url.searchParams.get('code_challenge')!, redirectUri: redirect.href });
        redirect.searchParams.set('code', code);
      }
      redirect.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: redirect.href });
      return res.end();
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const form = new URLSearchParams(raw);
      const issued = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const ok = issued && form.get('client_id') === client.clientId && form.get('client_secret') === client.clientSecret && form.get('redirect_uri') === issued.redirectUri
        && crypto.createHash('sha256').update(verifier).digest('base64url') === issued.challenge;
      // GitHub answers a bad code with 200 and an error body
      if (!ok) return json(200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
      const token = `gho_${crypto.randomBytes(16).toString('hex')}`;
      tokens.set(token, issued.user);
      return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
    }
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (url.pathname === '/api/v3/user') return user ? json(200, { id: user.id, login: user.login, name: user.name ?? null }) : json(401, { message: 'Bad credentials' });
    if (url.pathname === '/api/v3/user/emails') return user ? json(200, user.emails.map((e) => ({ ...e, visibility: null }))) : json(401, { message: 'Bad credentials' });
    json(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  gh.close = () => closeServer(server);
  return gh as TestGithub;
}

function closeServer(server: http.Server) {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/**
 * Presses "Continue with <provider>" on the current interaction page, goes through the
 * upstream provider (its own cookies) and comes back to Latch's callback, which the pages then
 * follow. Returns the pages for the next step.
 */
export async function continueWith(pages: HostedPages, latch: TestLatch, providerId: string, uid = pages.uid) {
  await pages.submit(`/interaction/${uid}/upstream/${providerId}`, {});
  if (!pages.callback) return pages; // an error page at Latch
  return throughUpstream(pages, latch, pages.callback);
}

/** Follows an upstream authorization URL to Latch's callback, then lets the pages follow it. */
export async function throughUpstream(pages: HostedPages, latch: TestLatch, authorizationUrl: string) {
  let location = authorizationUrl;
  const upstream = request.agent(new URL(location).origin);
  for (let hops = 0; hops < 10; hops += 1) {
    const url = new URL(location, new URL(authorizationUrl).origin);
    if (url.origin === new URL(latch.url).origin) return pages.get(url.pathname + url.search);
    const res = await upstream.get(url.pathname + url.search);
    if (res.status !== 302 && res.status !== 303) throw new Error(`upstream answered ${res.status}: ${res.text.slice(0, 300)}`);
    location = res.headers.location!;
  }
  throw new Error('too many upstream redirects');
}
