import { basicAuth, parseJson, postForm, roundRobin, statusProblem } from './requests.js';
import type { Scenario } from './types.js';

/** Scenario 2: client_credentials with no resource, an opaque token stored server-side. */
export const clientCredentialsOpaque: Scenario = {
  id: '2',
  title: 'client_credentials → opaque token',
  floor: 'echo',
  pacedAt70: true,
  storesTokens: true,
  targets: [
    { metric: 'rps', against: 'ceiling', atLeast: 0.8 },
    { metric: 'p99At70', atMostMs: 25 },
  ],
  async prepare(target) {
    const nextAuth = roundRobin(target.fixture.machines.map(basicAuth));
    return {
      source: { next: () => postForm('/token', nextAuth(), { grant_type: 'client_credentials' }) },
      check(status, body) {
        const token = parseJson(body)?.access_token;
        return statusProblem(status, body) ?? (typeof token === 'string' && !token.includes('.') ? undefined : 'no opaque access_token');
      },
    };
  },
};
