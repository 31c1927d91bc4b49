import crypto from 'node:crypto';
import { pino } from 'pino';
import { loadConfig } from '../../lib/config/config.js';
import { startServer } from '../../lib/server.js';
import { createTestDatabase } from '../support/database.js';
import { freePort, latchEnv, type TestLatch } from '../support/latch.js';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { totpCode } from '../support/totp.js';
import { BrowserSession, csrfIn, uidIn, xsrfIn } from './browser-session.js';

/**
 * What the fuzzer aims at: one Latch (its error-level log lines captured), clients of each
 * kind, a person with tokens, a dynamically registered client, and browser sessions parked on
 * each hosted form with a valid CSRF token, so hostile input reaches the handlers.
 */
export type FuzzWorld = Awaited<ReturnType<typeof buildWorld>>;

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

export async function startFuzzLatch() {
  const errorLines: string[] = [];
  const db = await createTestDatabase();
  const port = await freePort();
  // X-Forwarded-For is trusted so each request can come from its own address: the per-IP
  // throttles would otherwise answer 429 before the fuzzed input reaches a handler
  const env = latchEnv(db, port, { LATCH_TRUST_PROXY: 'true', LATCH_PRUNE_INTERVAL: '1d' });
  const config = loadConfig(env);
  const log = pino({ level: 'error', base: { service: 'latch' } }, { write: (line: string) => void errorLines.push(line) });
  const running = await startServer(config, log);
  const latch: TestLatch = { ...running, issuer: config.issuer, db, env };
  return { latch, errorLines };
}

export async function buildWorld(latch: TestLatch) {
  const c = latch.container;
  const app = await testApp(latch, 'Fuzz app');
  const service = await c.clients.create({ name: 'Fuzz service', grantTypes: ['client_credentials', EXCHANGE_GRANT] });
  const tv = await c.clients.create({ name: 'Fuzz TV', public: true, grantTypes: [DEVICE_GRANT] });
  const person = await createPerson(latch, 'fuzz@example.com', { name: 'Fuzz Person' });
  const { tokens } = await signIn(latch, person, app);
  const orgId = (await c.orgs.list(person.id))[0]!.id;

  const registered = await fetch(`${latch.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Fuzz registered', redirect_uris: ['https://reg.example.com/cb'], token_endpoint_auth_method: 'none' }),
  }).then((r) => r.json() as Promise<{ client_id: string; registration_access_token: string }>);

  const device = await fetch(`${latch.url}/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `client_id=${tv.clientId}&scope=openid` }).then(
    (r) => r.json() as Promise<{ device_code: string; user_code: string }>,
  );

  // the target of the fuzzed sign-ins, so its throttle never holds back the person above
  const victim = await createPerson(latch, 'fuzz-victim@example.com');
  // the HMAC key for API keys is made with the first key, not by a fuzzed request
  await c.apiKeys.admin.create({ owner: person.id, name: 'fuzz', scopes: ['api:read'] });
  const mfaPerson = await createPerson(latch, 'fuzz-mfa@example.com');
  const { secret } = await c.mfa.totp.beginEnrolment(mfaPerson.id, mfaPerson.email);
  if (!(await c.mfa.totp.confirmEnrolment(mfaPerson.id, await totpCode(secret)))) throw new Error('TOTP enrolment failed');

  const authQuery = () => new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: app.redirectUri, scope: 'openid email', code_challenge: crypto.randomBytes(32).toString('base64url'), code_challenge_method: 'S256', state: 'st', prompt: 'consent' });

  /** A browser parked on a hosted step of a fresh authorization request. */
  async function parkedAt(step: 'login' | 'consent' | 'mfa', who: Person = person) {
    const browser = new BrowserSession(latch.url);
    let page = await browser.visit(`/auth?${authQuery()}`);
    if (step !== 'login') {
      const signedIn = await browser.postForm(`/interaction/${uidIn(page.text)}/login`, { _csrf: csrfIn(page.text), email: who.email, password: who.password });
      const next = new URL(signedIn.location ?? '/', latch.url);
      page = await browser.visit(next.pathname + next.search);
    }
    const uid = uidIn(page.text);
    if (!uid || !page.text.includes(`/interaction/${uid}/${step === 'mfa' ? 'mfa' : step}`)) throw new Error(`could not reach the ${step} step: ${page.status} ${page.text.slice(0, 300)}`);
    return { browser, uid, csrf: csrfIn(page.text) };
  }

  // one signed-in account session serves every account-page target (signing in costs a hash)
  let accountSession: Promise<{ browser: BrowserSession; csrf: string }> | undefined;
  const accountPages = () => (accountSession ??= openAccountPages());

  async function openAccountPages() {
    const browser = new BrowserSession(latch.url);
    let page = await browser.visit('/account');
    const uid = uidIn(page.text);
    await browser.postForm(`/interaction/${uid}/login`, { _csrf: csrfIn(page.text), email: person.email, password: person.password });
    page = await browser.visit('/account');
    if (!page.text.includes('Your account')) throw new Error(`could not open /account: ${page.status} ${page.text.slice(0, 300)}`);
    return { browser, csrf: csrfIn(page.text) };
  }

  async function devicePage() {
    const browser = new BrowserSession(latch.url);
    const page = await browser.visit('/device');
    return { browser, xsrf: xsrfIn(page.text) };
  }

  async function plainForm(path: string) {
    const browser = new BrowserSession(latch.url);
    const page = await browser.visit(path);
    return { browser, csrf: csrfIn(page.text) };
  }

  return {
    latch,
    app,
    service: { clientId: service.clientId, clientSecret: service.clientSecret! },
    basic: `Basic ${Buffer.from(`${encodeURIComponent(service.clientId)}:${encodeURIComponent(service.clientSecret!)}`).toString('base64')}`,
    tv: { clientId: tv.clientId },
    person,
    victim,
    orgId,
    tokens,
    registered,
    device,
    sessions: { parkedAt, accountPages, devicePage, plainForm, mfaPerson },
  };
}
