import { expect } from 'chai';
import { generate } from 'otplib';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { HostedPages, type testApp } from './hosted-pages.js';
import type { TestLatch } from './latch.js';
import type { SoftwareAuthenticator } from './software-authenticator.js';

/**
 * Second factors on the hosted pages, over HTTP: reaching the second step after the password,
 * enrolling an authenticator app or a passkey during a sign-in that asks for acr
 * urn:latch:acr:mfa, and the passkey options Latch hands to the browser script.
 */
export type TestApp = Awaited<ReturnType<typeof testApp>>;
export type Flow = Awaited<ReturnType<TestApp['start']>>;
type Person = { email: string; password: string };

/** Authorization parameters that make a sign-in ask for a second factor (and enrol one when missing). */
export const STEP_UP = { acr_values: ACR.multiFactor };

export async function consentIfAsked(pages: HostedPages) {
  if (!pages.callback && pages.text.includes('/consent"')) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
}

/** Whether the last answer moved the sign-in on (to the consent page or back to the app). */
export const signedIn = (pages: HostedPages) => !!pages.callback || pages.text.includes('/consent"');

/** A new browser that has passed the password and stands at the next step (second factor or enrolment). */
export async function afterPassword(latch: TestLatch, app: TestApp, person: Person, extra: Record<string, string> = {}) {
  const pages = new HostedPages(latch);
  const flow = await app.start(pages, extra);
  await pages.submit(`/interaction/${pages.uid}/login`, { email: person.email, password: person.password });
  return { pages, flow, uid: pages.uid };
}

/** Asks for WebAuthn options the way passkeys.js does (JSON, with the page's CSRF token). */
export async function passkeyOptions(pages: HostedPages, path: string, headers: Record<string, string> = {}) {
  const res = await pages.agent.post(path).set({ accept: 'application/json', ...headers }).send({ _csrf: pages.csrf });
  if (res.status !== 200) throw new Error(`passkey options refused: ${res.status} ${res.text.slice(0, 300)}`);
  return res.body as { challenge: string; rpId?: string; rp?: { id: string }; user?: { id: string }; userVerification?: string };
}

/** The recovery codes shown on the page after enrolment. */
export function recoveryCodesOn(html: string): string[] {
  return [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
}

/** Finishes a sign-in whose factor was just enrolled: past the recovery codes, consent, code redemption. */
async function finishEnrolment(pages: HostedPages, flow: Flow) {
  const recoveryCodes = recoveryCodesOn(pages.text);
  expect(recoveryCodes, `no recovery codes on ${pages.path} (${pages.status}): ${pages.text.slice(0, 300)}`).to.have.length(10);
  await pages.submit(`/interaction/${pages.uid}/mfa/done`, {});
  await consentIfAsked(pages);
  const { claims } = await flow.redeem();
  return { recoveryCodes, claims };
}

/**
 * Enrols an authenticator app as a person would: signs in asking for MFA, reads the key off
 * the set-up page and confirms it with a code. Returns the key and the recovery codes shown.
 */
export async function enrolAuthenticatorApp(latch: TestLatch, app: TestApp, person: Person) {
  const { pages, flow, uid } = await afterPassword(latch, app, person, STEP_UP);
  expect(pages.path).to.equal(`/interaction/${uid}/mfa/enrol`);
  const secret = pages.codeText('totp-secret');
  await pages.submit(`/interaction/${uid}/mfa/enrol/totp`, { code: await generate({ secret }) });
  return { secret, ...(await finishEnrolment(pages, flow)) };
}

/** Registers `authenticator` as a passkey the same way, through the enrolment page's options. */
export async function enrolPasskey(latch: TestLatch, app: TestApp, person: Person, authenticator: SoftwareAuthenticator) {
  const { pages, flow, uid } = await afterPassword(latch, app, person, STEP_UP);
  expect(pages.path).to.equal(`/interaction/${uid}/mfa/enrol`);
  const options = await passkeyOptions(pages, `/interaction/${uid}/mfa/enrol/passkey/options`);
  await pages.submit(`/interaction/${uid}/mfa/enrol/passkey`, { response: JSON.stringify(authenticator.register(options)), name: 'Software key' });
  return { options, ...(await finishEnrolment(pages, flow)) };
}
