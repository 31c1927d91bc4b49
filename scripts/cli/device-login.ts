import QRCode from 'qrcode';
import { CLI_CLIENT_ID } from '../../lib/account/cli-client.js';
import { createCredentialsStore, type StoredLogin } from './credentials-store.js';

/**
 * `latch login`, `latch token`, `latch logout`: a person at a terminal signs in with the device
 * authorization grant (RFC 8628) against any Latch over HTTP — no database, no LATCH_SECRET.
 * Tokens live in the credentials file (credentials-store.ts); `token` refreshes them shortly
 * before they expire; `logout` revokes the refresh token (RFC 7009) and forgets them.
 */
export const DEFAULT_CLI_CLIENT_ID = CLI_CLIENT_ID;
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.2: the interval when the server names none */
const DEFAULT_POLL_SECONDS = 5;
/** `latch token` refreshes when the access token has less than this left */
const REFRESH_MARGIN_SECONDS = 60;
const REQUEST_TIMEOUT_MS = 15_000;

/** A failure to tell the person about; `usage` ones exit 2, the others 1. */
export class LoginError extends Error {
  constructor(message: string, readonly usage = false) {
    super(message);
  }
}

type ServerMetadata = {
  issuer: string;
  token_endpoint: string;
  device_authorization_endpoint?: string;
  revocation_endpoint?: string;
};
type TokenAnswer = { access_token?: string; refresh_token?: string; expires_in?: number; scope?: string; error?: string; error_description?: string };

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function parseIssuer(value: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    throw new LoginError('--issuer must be an https URL with no query or fragment', true);
  }
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) throw new LoginError('--issuer must use https (http only on localhost)', true);
  return url.href.replace(/\/+$/, '');
}

async function post(url: string, form: Record<string, string>): Promise<{ status: number; body: TokenAnswer }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  let body: TokenAnswer = {};
  try {
    body = text ? (JSON.parse(text) as TokenAnswer) : {};
  } catch {
    throw new LoginError(`${url} answered ${res.status} with something other than JSON`);
  }
  return { status: res.status, body };
}

async function discover(issuer: string): Promise<ServerMetadata> {
  let res: Response;
  try {
    res = await fetch(`${issuer}/.well-known/oauth-authorization-server`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new LoginError(`cannot reach ${issuer}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new LoginError(`${issuer} has no authorization server metadata (HTTP ${res.status})`);
  const metadata = (await res.json()) as ServerMetadata;
  // RFC 8414 §3.3: the document must name the issuer it was fetched for
  if (metadata.issuer !== issuer) throw new LoginError(`${issuer} describes itself as ${metadata.issuer}; use that as --issuer`);
  if (!metadata.device_authorization_endpoint) throw new LoginError(`${issuer} does not offer the device flow`);
  return metadata;
}

const describe = (body: TokenAnswer) => body.error_description ?? body.error ?? 'unexpected answer';
const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

export type LoginOptions = { issuer: string; clientId?: string; scope?: string; resource?: string; qr?: boolean };

export async function login(options: LoginOptions, print: (line: string) => void = console.log) {
  const issuer = parseIssuer(options.issuer);
  const clientId = options.clientId ?? DEFAULT_CLI_CLIENT_ID;
  const scope = options.scope ?? 'openid offline_access';
  const metadata = await discover(issuer);

  const started = await post(metadata.device_authorization_endpoint!, { client_id: clientId, scope, ...(options.resource ? { resource: options.resource } : {}) });
  const device = started.body as TokenAnswer & { device_code?: string; user_code?: string; verification_uri?: string; verification_uri_complete?: string; interval?: number };
  if (started.status !== 200 || !device.device_code || !device.user_code || !device.verification_uri) {
    throw new LoginError(`${issuer} refused to start a device sign-in: ${describe(device)}`);
  }

  print(`To sign in, open ${device.verification_uri} and enter the code\n\n    ${device.user_code}\n`);
  if (device.verification_uri_complete) {
    print(`or open ${device.verification_uri_complete}`);
    if (options.qr !== false) print(await QRCode.toString(device.verification_uri_complete, { type: 'terminal', small: true }));
  }
  print('Waiting for approval…');

  let interval = device.interval ?? DEFAULT_POLL_SECONDS;
  const deadline = Date.now() + (device.expires_in ?? 600) * 1000;
  for (;;) {
    await sleep(interval);
    if (Date.now() > deadline) throw new LoginError('the code expired before it was approved; run latch login again');
    const { status, body } = await post(metadata.token_endpoint, { grant_type: DEVICE_CODE_GRANT, device_code: device.device_code, client_id: clientId });
    if (status === 200 && body.access_token) {
      const stored: StoredLogin = {
        issuer,
        clientId,
        accessToken: body.access_token,
        expiresAt: Math.floor(Date.now() / 1000) + (body.expires_in ?? 0),
        refreshToken: body.refresh_token,
        scope: body.scope,
        resource: options.resource,
        tokenEndpoint: metadata.token_endpoint,
        revocationEndpoint: metadata.revocation_endpoint,
      };
      const store = createCredentialsStore();
      await store.save(stored);
      print(`Signed in to ${issuer}. Tokens saved in ${store.file}`);
      return stored;
    }
    if (body.error === 'authorization_pending') continue;
    if (body.error === 'slow_down') {
      interval += 5; // RFC 8628 §3.5
      continue;
    }
    if (body.error === 'access_denied') throw new LoginError('the sign-in was denied');
    if (body.error === 'expired_token') throw new LoginError('the code expired before it was approved; run latch login again');
    throw new LoginError(`sign-in failed: ${describe(body)}`);
  }
}

/** A valid access token, refreshed first when it is about to expire. */
export async function currentToken(issuer: string | undefined): Promise<string> {
  const store = createCredentialsStore();
  const key = issuer === undefined ? undefined : parseIssuer(issuer);
  const login = await store.update(key, async (stored) => {
    if (stored.expiresAt - REFRESH_MARGIN_SECONDS > Date.now() / 1000) return stored;
    if (!stored.refreshToken) throw new LoginError('the access token expired and there is no refresh token; run latch login again');
    const { status, body } = await post(stored.tokenEndpoint, {
      grant_type: 'refresh_token',
      refresh_token: stored.refreshToken,
      client_id: stored.clientId,
      ...(stored.resource ? { resource: stored.resource } : {}),
    });
    if (status !== 200 || !body.access_token) throw new LoginError(`could not refresh the token (${describe(body)}); run latch login again`);
    return {
      ...stored,
      accessToken: body.access_token,
      expiresAt: Math.floor(Date.now() / 1000) + (body.expires_in ?? 0),
      refreshToken: body.refresh_token ?? stored.refreshToken,
      scope: body.scope ?? stored.scope,
    };
  });
  if (!login) throw new LoginError(key ? `not signed in to ${key}; run latch login --issuer ${key}` : 'not signed in; run latch login --issuer URL');
  return login.accessToken;
}

/** Revokes the refresh token (which ends its grant) and forgets the login. */
export async function logout(issuer: string | undefined, print: (line: string) => void = console.log) {
  const store = createCredentialsStore();
  const login = await store.find(issuer === undefined ? undefined : parseIssuer(issuer));
  if (!login) {
    print('not signed in');
    return;
  }
  let problem: string | undefined;
  if (login.revocationEndpoint && login.refreshToken) {
    try {
      const { status, body } = await post(login.revocationEndpoint, { token: login.refreshToken, token_type_hint: 'refresh_token', client_id: login.clientId });
      if (status !== 200) problem = describe(body);
    } catch (err) {
      problem = (err as Error).message;
    }
  } else if (!login.revocationEndpoint) {
    problem = `${login.issuer} offers no revocation endpoint`;
  }
  await store.remove(login.issuer);
  if (problem) throw new LoginError(`signed out locally, but the refresh token could not be revoked: ${problem}`);
  print(`Signed out of ${login.issuer}`);
}
