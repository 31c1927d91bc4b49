import { PERSON_SCOPE, type BenchPerson } from '../seed/fixture.js';
import { authorize, Browser } from './browser.js';
import { basicAuth, FORM, form, parseJson, roundRobin, statusProblem } from './requests.js';
import type { Scenario } from './types.js';

/**
 * Scenario 6: the whole authorization-code flow with PKCE as a returning person's browser
 * makes it — /auth, the sign-in form (argon2id at Latch's production parameters), back to
 * /auth, the code at the app's redirect URI — and the app redeeming the code for a JWT for
 * the bench resource. A fresh browser (no session) per flow, people in turn. Counted in
 * flows/s; the floor is argon2id hashes/s at the same parameters on the same machine, the
 * cost no sign-in can avoid. Writes are counted for one flow alone — the pre-flight's person
 * signing in again, a returning person — and over the measured windows.
 */
export const passwordFlow: Scenario = {
  id: '6',
  title: 'authorization code + PKCE with a password sign-in, returning person (flows/s; floor: argon2id hashes/s)',
  floor: 'argon2',
  pacedAt70: false,
  unit: 'flows',
  countWrites: true,
  storesTokens: true,
  targets: [
    { metric: 'rps', against: 'floor', atLeast: 0.8, label: 'Latch flows/s ÷ argon2id hashes/s (floor)' },
    { metric: 'writesPerFlow', atMost: 6 },
  ],
  async prepare(target) {
    const { people, resource } = target.fixture;
    if (!people.length) return { unavailable: 'no seeded people with a password' };
    const nextPerson = roundRobin(people);
    const signIn = async (url: string, person: BenchPerson) => {
      const { code, verifier } = await authorize(new Browser(url), person.app, person, { scope: PERSON_SCOPE, resource });
      const res = await fetch(new URL('/token', url), {
        method: 'POST',
        headers: { authorization: basicAuth(person.app), 'content-type': FORM },
        body: form({ grant_type: 'authorization_code', code, redirect_uri: person.app.redirectUri, code_verifier: verifier, resource }),
      });
      const body = await res.text();
      const problem = statusProblem(res.status, body) ?? (typeof parseJson(body)?.access_token === 'string' ? undefined : 'no access_token');
      if (problem) throw new Error(`code redemption: ${problem}`);
    };
    return {
      async flow(url, count) {
        await signIn(url, nextPerson());
        count('sign-ins');
      },
      // the writes counted: the person of the pre-flight flow (the first) signing in again
      probe: (url) => signIn(url, people[0]!),
    };
  },
};
