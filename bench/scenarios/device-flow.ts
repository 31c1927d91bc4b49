import type { PendingScenario } from './types.js';

/** Scenario 7: waits for people who can approve device codes (issue 3). */
export const deviceFlow: PendingScenario = {
  id: '7',
  title: 'device flow: many devices polling while codes are approved',
  pending: {
    reason: 'device codes can be issued and polled, but no signed-in person can approve one yet, so no poll ever succeeds',
    needs: ['hosted sign-in (issue 3) so /device approvals complete', 'a driver that approves codes while devices poll'],
    addAs: 'bench/scenarios/device-flow.ts',
  },
};
