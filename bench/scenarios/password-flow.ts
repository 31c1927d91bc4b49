import type { PendingScenario } from './types.js';

/** Scenario 6: not in the bench yet. Replace with a Scenario driving the hosted pages. */
export const passwordFlow: PendingScenario = {
  id: '6',
  title: 'authorization code + PKCE with a real password sign-in (flows/s, DB writes per flow)',
  pending: {
    reason: 'not written yet: the bench has no driver for the hosted sign-in and consent forms (cookies, CSRF token, redirects), and no query log to count writes',
    needs: [
      'a flow driver: /auth → sign-in form → consent → code → /token with PKCE, per virtual user',
      'argon2 hashes/s at the production parameters, measured in the same run',
      'a query log on the Latch child to count database writes per flow',
    ],
    addAs: 'bench/scenarios/password-flow.ts — targets: flows/s ≥ 0.8 × argon2 hashes/s; ≤ 6 writes per flow',
  },
};
