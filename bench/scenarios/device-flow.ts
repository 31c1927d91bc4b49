import type { PendingScenario } from './types.js';

/** Scenario 7: not in the bench yet. Replace with a Scenario that polls while approving. */
export const deviceFlow: PendingScenario = {
  id: '7',
  title: 'device flow: many devices polling while codes are approved',
  pending: {
    reason: 'not written yet: approving a code needs a signed-in person on /device, which needs the same form driver as scenario 6',
    needs: ['the hosted-form driver of scenario 6', 'devices polling /token (slow_down honoured) while approvals run'],
    addAs: 'bench/scenarios/device-flow.ts',
  },
};
