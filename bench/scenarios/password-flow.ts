import type { PendingScenario } from './types.js';

/** Scenario 6: waits for hosted password sign-in (issue 3). */
export const passwordFlow: PendingScenario = {
  id: '6',
  title: 'authorization code + PKCE with a real password sign-in (flows/s, DB writes per flow)',
  pending: {
    reason: 'Latch has no hosted password sign-in yet: the interaction routes cannot sign a person in, so no code flow can finish',
    needs: [
      'sign-in and consent pages (issue 3)',
      'argon2 hashes/s at the production parameters, measured in the same run',
      'a query log on the Latch child to count writes per flow',
    ],
    addAs: 'bench/scenarios/password-flow.ts — targets: flows/s ≥ 0.8 × argon2 hashes/s; ≤ 6 writes per flow',
  },
};
