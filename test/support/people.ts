import crypto from 'node:crypto';
import request from 'supertest';
import type { TestLatch } from './latch.js';

/**
 * People for tests: accounts made through the account service, and browser-like sign-ins that
 * walk the real hosted pages with a cookie-keeping supertest agent (no shortcuts into the
 * provider): /auth → sign-in form → consent form → redirect_uri?code=…
 */
export type Person = { id: string; email: string; password: string };

export async function createPerson(latch: TestLatch, email: string, opts: { verified?: boolean; name?: string } = {}): Promise<Person> {
  const password = `pw-${crypto.randomBytes(9).toString('base64url')}`;
  await latch.container.accounts.signUp({ email, password, name: opts.name ?? email.split('@')[0] }, { ip: `10.${crypto.randomInt(255)}.0.1` });
  const account = (await latch.container.accounts.findByEmail(email))!;
  if (opts.verified !== false) await latch.container.knex('accounts').where({ id: account.id }).update({ email_verified: true });
  return { id: account.id, email, password };
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

export type AuthorizeOptions = {
  clientId: string;
  redirectUri: string;
  scope?: string;
  resource?: string;
  prompt?: string;
  /** organization to pick on the consent page */
  org?: string;
};

export async function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** Drives a code flow as a browser would; returns the code and the PKCE verifier. */
export async function authorize(latch: TestLatch, agent: ReturnType<typeof request.agent>, person: Person, opts: AuthorizeOptions) {
  const { verifier, challenge } = await pkcePair();
  let res = await agent.get('/auth').query({
    client_id: opts.clientId,
    response_type: 'code',
    redirect_uri: opts.redirectUri,
    scope: opts.scope ?? 'openid email',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
    ...(opts.resource ? { resource: opts.resource } : {}),
    ...(opts.prompt ? { prompt: opts.prompt } : {}),
  });
  for (let hops = 0; hops < 12; hops += 1) {
    const location = res.headers.location;
    if (res.status === 303 || res.status === 302) {
      if (location!.startsWith(opts.redirectUri)) {
        const url = new URL(location!);
        const code = url.searchParams.get('code');
        if (!code) throw new Error(`authorization failed: ${location}`);
        return { code, verifier };
      }
      res = await agent.get(new URL(location!, latch.url).pathname + new URL(location!, latch.url).search);
      continue;
    }
    if (res.status !== 200) throw new Error(`unexpected ${res.status}: ${res.text.slice(0, 300)}`);
    const uid = /\/interaction\/([\w-]+)\//.exec(res.text)?.[1];
    if (!uid) throw new Error(`no interaction form on page: ${res.text.slice(0, 300)}`);
    if (res.text.includes(`/interaction/${uid}/login`)) {
      res = await agent.post(`/interaction/${uid}/login`).type('form').send({ _csrf: csrfOf(res.text), email: person.email, password: person.password });
    } else if (res.text.includes(`/interaction/${uid}/consent`)) {
      res = await agent.post(`/interaction/${uid}/consent`).type('form').send({ _csrf: csrfOf(res.text), decision: 'allow', ...(opts.org ? { org: opts.org } : {}) });
    } else {
      throw new Error(`unknown interaction page: ${res.text.slice(0, 300)}`);
    }
  }
  throw new Error('too many redirects');
}

export async function redeem(latch: TestLatch, clientId: string, redirectUri: string, code: string, verifier: string, resource?: string) {
  const res = await request(latch.url)
    .post('/token')
    .type('form')
    .send({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier, ...(resource ? { resource } : {}) });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text}`);
  return res.body as { access_token: string; refresh_token?: string; id_token?: string };
}

/** A signed-in browser (session cookie) plus tokens for Latch's own API. */
export async function signIn(latch: TestLatch, person: Person, opts: { clientId: string; redirectUri: string; scope?: string; org?: string }) {
  const agent = request.agent(latch.url);
  const resource = latch.container.resources.latchApi.identifier;
  const { code, verifier } = await authorize(latch, agent, person, {
    ...opts,
    scope: opts.scope ?? 'openid email offline_access api:read api:write',
    resource,
    prompt: 'consent',
  });
  const tokens = await redeem(latch, opts.clientId, opts.redirectUri, code, verifier, resource);
  return { agent, tokens };
}

export async function testApp(latch: TestLatch, name = 'Test App') {
  const redirectUri = 'https://app.example.com/cb';
  const { clientId } = await latch.container.clients.create({ name, public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] });
  return { clientId, redirectUri };
}

/**
 * Opens a page of Latch's own (/account…, /admin…) with a browser-like agent, following
 * redirects and filling in the sign-in form when it appears; returns the page it ends on.
 */
export async function openSignedIn(latch: TestLatch, agent: ReturnType<typeof request.agent>, person: Person, path: string) {
  let res = await agent.get(path);
  for (let i = 0; i < 10; i += 1) {
    if (res.status === 303 || res.status === 302) {
      const next = new URL(res.headers.location!, latch.url);
      res = await agent.get(next.pathname + next.search);
    } else if (/\/interaction\/[\w-]+\/login/.test(res.text)) {
      const uid = /\/interaction\/([\w-]+)\/login/.exec(res.text)![1];
      res = await agent.post(`/interaction/${uid}/login`).type('form').send({ _csrf: csrfOf(res.text), email: person.email, password: person.password });
    } else break;
  }
  return res;
}
