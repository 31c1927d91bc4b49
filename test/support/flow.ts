import crypto from 'node:crypto';
import request from 'supertest';
import type { Account } from '../../lib/accounts/accounts.service.js';
import type { TestLatch } from './latch.js';

/**
 * The browser side of the code flow, driven over HTTP with supertest agents (which keep
 * cookies): start an authorization request, follow Latch's 303s, fill the sign-in and consent
 * forms with their CSRF tokens, and stop at the client's redirect_uri. Also raw token,
 * refresh and introspection calls, so tests see exactly what came back.
 */
export type Agent = ReturnType<typeof request.agent>;

export const PASSWORD = 'correct horse battery staple';

let helperIp = 0;

/** Creates an account through the account service (sign-up throttling keyed per call). */
export async function signUpAccount(latch: TestLatch, email: string, password = PASSWORD, name?: string): Promise<Account> {
  const { account, created } = await latch.container.accounts.signUp({ email, password, name }, { ip: `test-helper-${process.pid}-${++helperIp}` });
  if (!created) throw new Error(`${email} already has an account`);
  return account;
}

export function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error(`no _csrf field in: ${html.slice(0, 500)}`);
  return match[1]!;
}

export function xsrfFrom(html: string): string {
  const match = /name="xsrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error(`no xsrf field in: ${html.slice(0, 500)}`);
  return match[1]!;
}

/** The uid and step of the form a hosted interaction page posts to. */
export function interactionForm(html: string): { uid: string; step: string } | undefined {
  const match = /action="\/interaction\/([^/"]+)\/(login|consent|signup)"/.exec(html);
  return match ? { uid: match[1]!, step: match[2]! } : undefined;
}

/** A Location as a path on Latch, or undefined when it leaves Latch. */
export function latchPath(latch: TestLatch, location: string): string | undefined {
  const url = new URL(location, latch.url);
  return url.origin === new URL(latch.url).origin ? url.pathname + url.search : undefined;
}

export type AuthorizeOptions = {
  clientId: string;
  redirectUri: string;
  scope?: string;
  email?: string;
  password?: string;
  /** what to press on the consent page, if it is shown */
  consent?: 'allow' | 'deny';
  /** extra or overriding authorization parameters */
  params?: Record<string, string>;
  /** headers sent on every request of the flow */
  headers?: Record<string, string>;
};

export type AuthorizeResult = {
  /** where Latch finally sent the browser (the client's redirect_uri) */
  location: URL;
  code: string | null;
  verifier: string;
  state: string;
  /** every response on the way, in order */
  responses: request.Response[];
  /** whether the flow showed the sign-in and consent pages */
  signedIn: boolean;
  consented: boolean;
};

export function authParams(o: Pick<AuthorizeOptions, 'clientId' | 'redirectUri' | 'scope' | 'params'>, challenge: string, state: string) {
  return {
    client_id: o.clientId,
    response_type: 'code',
    scope: o.scope ?? 'openid',
    redirect_uri: o.redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...o.params,
  };
}

export type DriveOptions = Pick<AuthorizeOptions, 'email' | 'password' | 'consent' | 'headers'>;

export type DriveResult = {
  /** the last response: a redirect away from Latch, or a page that is not a sign-in or consent step */
  last: request.Response;
  /** where Latch sent the browser when it left Latch */
  location?: URL;
  responses: request.Response[];
  signedIn: boolean;
  consented: boolean;
};

/**
 * Follows Latch's redirects from `res` in the browser `agent`, signing in when the sign-in page
 * appears (with `email`/`password`) and answering the consent page, until the browser leaves
 * Latch or lands on another page (e.g. the device flow's "Device connected").
 */
export async function drive(latch: TestLatch, agent: Agent, res: request.Response, o: DriveOptions = {}): Promise<DriveResult> {
  const responses: request.Response[] = [res];
  const headers = o.headers ?? {};
  let signedIn = false;
  let consented = false;
  for (let hop = 0; hop < 12; hop++) {
    if (res.status === 303 || res.status === 302) {
      const path = latchPath(latch, res.headers.location!);
      if (!path) return { last: res, location: new URL(res.headers.location!), responses, signedIn, consented };
      res = await agent.get(path).set(headers);
      responses.push(res);
      continue;
    }
    const form = res.status === 200 ? interactionForm(res.text) : undefined;
    if (!form || form.step === 'signup') return { last: res, responses, signedIn, consented };
    if (form.step === 'login') {
      if (!o.email) throw new Error('the flow asks for sign-in but no email was given');
      res = await agent
        .post(`/interaction/${form.uid}/login`)
        .set(headers)
        .type('form')
        .send({ email: o.email, password: o.password ?? PASSWORD, _csrf: csrfFrom(res.text) });
      if (res.status !== 303) throw new Error(`sign-in failed: ${res.status} ${res.text.slice(0, 400)}`);
      signedIn = true;
    } else {
      res = await agent
        .post(`/interaction/${form.uid}/consent`)
        .set(headers)
        .type('form')
        .send({ decision: o.consent ?? 'allow', _csrf: csrfFrom(res.text) });
      consented = true;
    }
    responses.push(res);
  }
  throw new Error(`too many redirects: ${res.status} ${res.headers.location ?? ''}`);
}

/**
 * Runs an authorization request to its end in the browser `agent`: signs in when the sign-in
 * page appears (with `email`/`password`), answers the consent page, and returns the redirect
 * back to the client with its code.
 */
export async function authorize(latch: TestLatch, agent: Agent, o: AuthorizeOptions): Promise<AuthorizeResult> {
  const { verifier, challenge } = pkcePair();
  const state = crypto.randomBytes(8).toString('hex');
  const start = await agent.get('/auth').set(o.headers ?? {}).query(authParams(o, challenge, state));
  const { location, responses, signedIn, consented, last } = await drive(latch, agent, start, o);
  if (!location) throw new Error(`authorization did not reach the client: ${last.status} ${last.text?.slice(0, 400)}`);
  return { location, code: location.searchParams.get('code'), verifier, state, responses, signedIn, consented };
}

export type TokenAuth = { clientId: string; clientSecret?: string };

function withClient(req: request.Test, auth: TokenAuth, body: Record<string, string>) {
  if (auth.clientSecret) return req.auth(auth.clientId, auth.clientSecret).type('form').send(body);
  return req.type('form').send({ ...body, client_id: auth.clientId });
}

export function redeemCode(latch: TestLatch, auth: TokenAuth, code: string, verifier: string, redirectUri: string) {
  return withClient(request(latch.url).post('/token'), auth, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri });
}

export function refresh(latch: TestLatch, auth: TokenAuth, refreshToken: string) {
  return withClient(request(latch.url).post('/token'), auth, { grant_type: 'refresh_token', refresh_token: refreshToken });
}

export async function introspect(latch: TestLatch, auth: TokenAuth, token: string): Promise<Record<string, unknown>> {
  const res = await withClient(request(latch.url).post('/token/introspection'), auth, { token });
  if (res.status !== 200) throw new Error(`introspection failed: ${res.status} ${res.text}`);
  return res.body as Record<string, unknown>;
}

/** A full sign-in and code redemption: the tokens a client holds afterwards. */
export async function tokensFor(latch: TestLatch, agent: Agent, o: AuthorizeOptions & { clientSecret?: string }) {
  const flow = await authorize(latch, agent, o);
  if (!flow.code) throw new Error(`no code: ${flow.location.href}`);
  const res = await redeemCode(latch, { clientId: o.clientId, clientSecret: o.clientSecret }, flow.code, flow.verifier, o.redirectUri);
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text}`);
  return { ...flow, tokens: res.body as { access_token: string; refresh_token?: string; id_token?: string; expires_in: number } };
}

/** Opens the sign-in page of a fresh authorization request; returns its interaction uid and CSRF token. */
export async function openSignIn(latch: TestLatch, agent: Agent, o: Pick<AuthorizeOptions, 'clientId' | 'redirectUri' | 'scope' | 'params'>) {
  const { verifier, challenge } = pkcePair();
  const state = crypto.randomBytes(8).toString('hex');
  const start = await agent.get('/auth').query(authParams(o, challenge, state));
  if (start.status !== 303) throw new Error(`authorization request refused: ${start.status} ${start.text.slice(0, 300)}`);
  const page = await agent.get(latchPath(latch, start.headers.location!)!);
  const form = interactionForm(page.text);
  if (page.status !== 200 || !form) throw new Error(`no interaction page: ${page.status} ${page.text.slice(0, 300)}`);
  return { uid: form.uid, csrf: csrfFrom(page.text), page, verifier, state };
}

/** Values of the cookies a response sets, by name. */
export function setCookies(res: request.Response): Map<string, { value: string; attributes: string[] }> {
  const raw = res.headers['set-cookie'] as unknown as string[] | string | undefined;
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  const out = new Map<string, { value: string; attributes: string[] }>();
  for (const line of list) {
    const [pair, ...attributes] = line.split(';').map((s) => s.trim());
    const i = pair!.indexOf('=');
    out.set(pair!.slice(0, i), { value: pair!.slice(i + 1), attributes: attributes.map((a) => a.toLowerCase()) });
  }
  return out;
}

export async function countRows(latch: TestLatch, table: string, where: Record<string, unknown> = {}): Promise<number> {
  const [row] = await latch.container.knex(table).where(where).count<{ count: number | string }[]>('* as count');
  return Number(row!.count);
}
