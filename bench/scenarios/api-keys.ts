import type { PendingScenario } from './types.js';

/** Scenario 4: waits for API keys (issue 6). Replace with a Scenario (floor: 'echo') when they land. */
export const apiKeys: PendingScenario = {
  id: '4',
  title: 'API key → GET /api/v1/whoami, and API key → JWT token exchange',
  pending: {
    reason: 'Latch has no API keys yet: no api_keys table, no /api/v1/whoami, no RFC 8693 token exchange',
    needs: ['api_keys table and service (issue 6)', 'GET /api/v1/whoami', 'token exchange grant for API keys', 'bench/seed/api-keys.ts seeding 10,000 keys'],
    addAs: 'bench/scenarios/api-keys.ts — target: whoami ≥ 0.5 × the floor echo',
  },
};
