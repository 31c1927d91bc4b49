import { basicAuth, parseJson, postForm, roundRobin, statusProblem } from './requests.js';
import type { Scenario } from './types.js';

/** Scenario 1: the machine-to-machine hot path, an RFC 9068 JWT for a registered resource. */
export const clientCredentialsJwt: Scenario = {
  id: '1',
  title: 'client_credentials → JWT for a resource',
  floor: 'jwt',
  pacedAt70: true,
  targets: [
    { metric: 'rps', against: 'ceiling', atLeast: 0.9 },
    { metric: 'rps', against: 'floor', atLeast: 0.6 },
    { metric: 'p99At70', atMostMs: 25 },
  ],
  async prepare(target) {
    const nextAuth = roundRobin(target.fixture.machines.map(basicAuth));
    const params = { grant_type: 'client_credentials', resource: target.fixture.resource, scope: 'read' };
    return {
      source: { next: () => postForm('/token', nextAuth(), params) },
      check(status, body) {
        const token = parseJson(body)?.access_token;
        return statusProblem(status, body) ?? (typeof token === 'string' && token.split('.').length === 3 ? undefined : 'no JWT access_token');
      },
    };
  },
};
