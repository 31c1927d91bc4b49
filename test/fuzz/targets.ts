import crypto from 'node:crypto';
import type { BrowserSession } from './browser-session.js';
import { DEVICE_GRANT, EXCHANGE_GRANT, type FuzzWorld } from './world.js';

/**
 * Every endpoint the fuzzer sends hostile requests to, each with a well-formed request to
 * mutate: protocol endpoints, metadata documents, registration, hosted forms (through a
 * browser session with its CSRF token) and the account pages. The JSON API's operations are
 * read from its OpenAPI document (see api-targets.ts).
 */
export type Prepared = { browser?: BrowserSession; uid?: string; csrf?: string; xsrf?: string };

export type FuzzTarget = {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** the path; `segment` (already encoded) replaces its last variable part when given */
  path: (w: FuzzWorld, p: Prepared, segment?: string) => string;
  hasPathParam?: boolean;
  in: 'query' | 'body';
  base: (w: FuzzWorld, p: Prepared) => Record<string, unknown>;
  headers?: (w: FuzzWorld, p: Prepared) => Record<string, string>;
  /**
   * oidc-provider rows a rejected request may rightly remove: a registration access token
   * presented for another client is destroyed, as a replayed credential should be
   */
  mayRevoke?: string[];
  /** a browser session to send with; made again after a request is accepted (it may be used up) */
  prepare?: (w: FuzzWorld) => Promise<Prepared>;
};

const challenge = () => crypto.randomBytes(32).toString('base64url');
const fixed = (path: string) => () => path;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const authParams = (w: FuzzWorld) => ({
  client_id: w.app.clientId,
  response_type: 'code',
  redirect_uri: w.app.redirectUri,
  scope: 'openid email',
  code_challenge: challenge(),
  code_challenge_method: 'S256',
  state: 'st',
  nonce: 'n',
  resource: w.latch.container.resources.latchApi.identifier,
});

const protocol: FuzzTarget[] = [
  { name: 'GET /auth', method: 'GET', path: fixed('/auth'), in: 'query', base: authParams },
  { name: 'POST /auth', method: 'POST', path: fixed('/auth'), in: 'body', base: authParams },
  { name: 'POST /request (PAR)', method: 'POST', path: fixed('/request'), in: 'body', base: authParams },
  {
    name: 'POST /token authorization_code',
    method: 'POST',
    path: fixed('/token'),
    in: 'body',
    base: (w) => ({ grant_type: 'authorization_code', code: crypto.randomBytes(32).toString('base64url'), code_verifier: challenge(), redirect_uri: w.app.redirectUri, client_id: w.app.clientId }),
  },
  // a made-up refresh token: a real one, replayed, would rightly revoke its grant
  { name: 'POST /token refresh_token', method: 'POST', path: fixed('/token'), in: 'body', base: (w) => ({ grant_type: 'refresh_token', refresh_token: crypto.randomBytes(32).toString('base64url'), client_id: w.app.clientId, scope: 'openid' }) },
  { name: 'POST /token client_credentials', method: 'POST', path: fixed('/token'), in: 'body', base: () => ({ grant_type: 'client_credentials', scope: 'api:read' }), headers: (w) => ({ authorization: w.basic }) },
  { name: 'POST /token device_code', method: 'POST', path: fixed('/token'), in: 'body', base: (w) => ({ grant_type: DEVICE_GRANT, device_code: w.device.device_code, client_id: w.tv.clientId }) },
  {
    name: 'POST /token token-exchange',
    method: 'POST',
    path: fixed('/token'),
    in: 'body',
    base: () => ({ grant_type: EXCHANGE_GRANT, subject_token: `latch_${crypto.randomBytes(8).toString('hex')}_x`, subject_token_type: 'urn:latch:params:oauth:token-type:api-key', resource: 'https://api.example.com' }),
    headers: (w) => ({ authorization: w.basic }),
  },
  { name: 'POST /token/introspection', method: 'POST', path: fixed('/token/introspection'), in: 'body', base: (w) => ({ token: w.tokens.access_token, token_type_hint: 'access_token' }), headers: (w) => ({ authorization: w.basic }) },
  { name: 'POST /token/revocation', method: 'POST', path: fixed('/token/revocation'), in: 'body', base: () => ({ token: crypto.randomBytes(32).toString('base64url'), token_type_hint: 'refresh_token' }), headers: (w) => ({ authorization: w.basic }) },
  { name: 'POST /device/auth', method: 'POST', path: fixed('/device/auth'), in: 'body', base: (w) => ({ client_id: w.tv.clientId, scope: 'openid' }) },
  {
    name: 'POST /reg',
    method: 'POST',
    path: fixed('/reg'),
    in: 'body',
    base: () => ({ client_name: 'App', redirect_uris: ['https://app.example.org/cb'], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', logo_uri: 'https://app.example.org/logo.png', scope: 'openid' }),
  },
  { name: 'GET /reg/:id', method: 'GET', path: (w, _p, s) => `/reg/${s ?? w.registered.client_id}`, hasPathParam: true, in: 'query', mayRevoke: ['RegistrationAccessToken'], base: (w) => ({ client_id: w.registered.client_id }), headers: (w) => bearer(w.registered.registration_access_token) },
  {
    name: 'PUT /reg/:id',
    method: 'PUT',
    path: (w, _p, s) => `/reg/${s ?? w.registered.client_id}`,
    hasPathParam: true,
    in: 'body',
    // a made-up access token: an accepted update would rotate the real one away
    base: (w) => ({ client_id: w.registered.client_id, client_name: 'Renamed', redirect_uris: ['https://reg.example.com/cb'] }),
    headers: () => bearer(crypto.randomBytes(32).toString('base64url')),
  },
  { name: 'GET /me (userinfo)', method: 'GET', path: fixed('/me'), in: 'query', base: () => ({ schema: 'openid' }), headers: (w) => bearer(w.tokens.access_token) },
  { name: 'POST /me (userinfo)', method: 'POST', path: fixed('/me'), in: 'body', base: (w) => ({ access_token: w.tokens.access_token }) },
  { name: 'GET /session/end', method: 'GET', path: fixed('/session/end'), in: 'query', base: (w) => ({ id_token_hint: w.tokens.id_token ?? 'x', post_logout_redirect_uri: 'https://app.example.com/bye', client_id: w.app.clientId, state: 's' }) },
  { name: 'POST /session/end', method: 'POST', path: fixed('/session/end'), in: 'body', base: (w) => ({ id_token_hint: w.tokens.id_token ?? 'x', client_id: w.app.clientId }) },
];

const metadata: FuzzTarget[] = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/oauth-protected-resource', '/jwks'].map((path) => ({
  name: `GET ${path}`,
  method: 'GET' as const,
  path: fixed(path),
  in: 'query' as const,
  base: () => ({ format: 'json' }),
}));

const atStep = (step: 'login' | 'consent' | 'mfa') => (w: FuzzWorld) => w.sessions.parkedAt(step, step === 'mfa' ? w.sessions.mfaPerson : w.person);
const interaction = (step: string) => (_w: FuzzWorld, p: Prepared, s?: string) => `/interaction/${s ?? p.uid}/${step}`;
const withCsrf = (fields: Record<string, unknown>) => (_w: FuzzWorld, p: Prepared) => ({ _csrf: p.csrf, ...fields });
const csrfHeader = (_w: FuzzWorld, p: Prepared) => ({ 'x-csrf-token': p.csrf ?? '' });

const hostedForms: FuzzTarget[] = [
  { name: 'POST sign-in', method: 'POST', path: interaction('login'), hasPathParam: true, in: 'body', prepare: atStep('login'), base: (w, p) => ({ _csrf: p.csrf, email: w.victim.email, password: 'not the password' }) },
  { name: 'POST sign-up', method: 'POST', path: interaction('signup'), hasPathParam: true, in: 'body', prepare: atStep('login'), base: withCsrf({ email: 'new@example.com', password: 'short', name: 'New' }) },
  { name: 'POST consent', method: 'POST', path: interaction('consent'), hasPathParam: true, in: 'body', prepare: atStep('consent'), base: withCsrf({ decision: 'undecided', org: 'x' }) },
  { name: 'POST abort', method: 'POST', path: interaction('abort'), hasPathParam: true, in: 'body', prepare: atStep('login'), base: withCsrf({ reason: 'x' }) },
  { name: 'POST MFA code', method: 'POST', path: interaction('mfa/totp'), hasPathParam: true, in: 'body', prepare: atStep('mfa'), base: withCsrf({ code: '000000' }) },
  { name: 'POST MFA recovery code', method: 'POST', path: interaction('mfa/recovery'), hasPathParam: true, in: 'body', prepare: atStep('mfa'), base: withCsrf({ code: 'AAAA-BBBB' }) },
  { name: 'POST MFA passkey', method: 'POST', path: interaction('mfa/passkey'), hasPathParam: true, in: 'body', prepare: atStep('mfa'), base: withCsrf({ response: '{"id":"x","rawId":"x","type":"public-key","response":{}}' }), headers: csrfHeader },
  { name: 'POST passkey sign-in', method: 'POST', path: interaction('passkey'), hasPathParam: true, in: 'body', prepare: atStep('login'), base: withCsrf({ response: '{"id":"x","response":{"clientDataJSON":"%%%"}}' }), headers: csrfHeader },
  { name: 'POST passkey options', method: 'POST', path: interaction('passkey/options'), hasPathParam: true, in: 'body', prepare: atStep('login'), base: withCsrf({}), headers: csrfHeader },
  { name: 'POST forgot password', method: 'POST', path: fixed('/forgot-password'), in: 'body', prepare: (w) => w.sessions.plainForm('/forgot-password'), base: withCsrf({ email: 'nobody@example.com' }) },
  { name: 'GET reset password', method: 'GET', path: fixed('/reset-password'), in: 'query', base: () => ({ token: crypto.randomBytes(16).toString('base64url') }) },
  { name: 'POST reset password', method: 'POST', path: fixed('/reset-password'), in: 'body', prepare: (w) => w.sessions.plainForm('/forgot-password'), base: withCsrf({ token: crypto.randomBytes(16).toString('base64url'), password: 'a new long password' }) },
  { name: 'GET verify e-mail', method: 'GET', path: fixed('/verify-email'), in: 'query', base: () => ({ token: crypto.randomBytes(16).toString('base64url') }) },
  { name: 'POST verify e-mail', method: 'POST', path: fixed('/verify-email'), in: 'body', prepare: (w) => w.sessions.plainForm('/forgot-password'), base: withCsrf({ token: crypto.randomBytes(16).toString('base64url') }) },
  { name: 'GET device', method: 'GET', path: fixed('/device'), in: 'query', base: (w) => ({ user_code: w.device.user_code }) },
  { name: 'POST device code', method: 'POST', path: fixed('/device'), in: 'body', prepare: (w) => w.sessions.devicePage(), base: (w, p) => ({ xsrf: p.xsrf, user_code: 'BCDF-GHJK' }) },
];

const account = (w: FuzzWorld) => w.sessions.accountPages();
const accountForm = (name: string, path: (w: FuzzWorld, s?: string) => string, fields: Record<string, unknown>, hasPathParam = false): FuzzTarget => ({
  name: `POST account ${name}`,
  method: 'POST',
  path: (w, _p, s) => path(w, s),
  hasPathParam,
  in: 'body',
  prepare: account,
  base: withCsrf(fields),
});

const accountPages: FuzzTarget[] = [
  accountForm('profile', () => '/account/profile', { name: 'Fuzz Person' }),
  accountForm('password', () => '/account/password', { current_password: 'wrong', new_password: 'x' }),
  accountForm('new organization', () => '/account/orgs', { name: 'Org' }),
  accountForm('invite', (w, s) => `/account/orgs/${s ?? w.orgId}/invite`, { email: 'invitee@example.com', role: 'owner-ish' }, true),
  accountForm('member role', (w, s) => `/account/orgs/${w.orgId}/members/${s ?? w.person.id}/role`, { role: 'king' }, true),
  accountForm('end session', (_w, s) => `/account/sessions/${s ?? 'x'}/end`, {}, true),
  accountForm('revoke app', (_w, s) => `/account/apps/${s ?? 'nope'}/revoke`, {}, true),
  accountForm('accept invitation', () => '/account/invitations', { token: 'x' }),
  accountForm('authenticator app', () => '/account/security/totp', { code: '123456' }),
  accountForm('remove passkey', (_w, s) => `/account/security/passkeys/${s ?? 'x'}/remove`, {}, true),
  accountForm('delete', () => '/account/delete', { confirm: 'no' }),
  { name: 'GET account organization', method: 'GET', path: (w, _p, s) => `/account/orgs/${s ?? w.orgId}`, hasPathParam: true, in: 'query', prepare: account, base: () => ({ done: 'profile' }) },
];

export const PAGE_AND_PROTOCOL_TARGETS: FuzzTarget[] = [...protocol, ...metadata, ...hostedForms, ...accountPages];
