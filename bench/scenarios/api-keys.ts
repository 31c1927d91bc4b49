import { basicAuth, parseJson, postForm, roundRobin, statusProblem } from './requests.js';
import type { Prepared, Scenario, Target } from './types.js';

/**
 * Scenario 4: a program with an API key. (a) calls Latch's own API, GET /api/v1/whoami,
 * with the key in X-API-Key; (b) exchanges the key for a short-lived JWT for a resource
 * (RFC 8693). Keys rotate through the seeded ones. Stock oidc-provider has neither, so there
 * is no ceiling; the floor is the JSON echo for (a) and the ES256 signer for (b).
 */
const KEYS_IN_ROTATION = 1_000;
const API_KEY_TOKEN_TYPE = 'urn:latch:params:oauth:token-type:api-key';
const NO_CEILING: Prepared = { unavailable: 'stock oidc-provider has no API keys' };

function keysOf(target: Target): (() => string) | undefined {
  const keys = target.fixture.apiKeys.slice(0, KEYS_IN_ROTATION);
  return keys.length ? roundRobin(keys) : undefined;
}

export const apiKeyWhoami: Scenario = {
  id: '4a',
  title: 'API key → GET /api/v1/whoami',
  floor: 'echo',
  pacedAt70: true,
  targets: [
    { metric: 'rps', against: 'floor', atLeast: 0.5 },
    { metric: 'p99At70', atMostMs: 25 },
  ],
  async prepare(target) {
    if (target.role === 'ceiling') return NO_CEILING;
    const nextKey = keysOf(target);
    if (!nextKey) return { unavailable: 'this Latch has no API keys (none could be seeded)' };
    return {
      source: { next: () => ({ method: 'GET', path: '/api/v1/whoami', headers: { 'x-api-key': nextKey() } }) },
      check: (status, body) => statusProblem(status, body) ?? (parseJson(body)?.authMethod === 'api-key' ? undefined : 'authMethod is not api-key'),
    };
  },
};

export const apiKeyExchange: Scenario = {
  id: '4b',
  title: 'API key → JWT (token exchange)',
  floor: 'jwt',
  pacedAt70: true,
  targets: [{ metric: 'p99At70', atMostMs: 25 }],
  async prepare(target) {
    if (target.role === 'ceiling') return NO_CEILING;
    const nextKey = keysOf(target);
    const exchanger = target.fixture.exchanger;
    if (!nextKey || !exchanger) return { unavailable: 'this Latch has no API keys or no token-exchange client' };
    const authorization = basicAuth(exchanger);
    return {
      source: {
        next: () =>
          postForm('/token', authorization, {
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: nextKey(),
            subject_token_type: API_KEY_TOKEN_TYPE,
            resource: target.fixture.resource,
          }),
      },
      check(status, body) {
        const token = parseJson(body)?.access_token;
        return statusProblem(status, body) ?? (typeof token === 'string' && token.split('.').length === 3 ? undefined : 'no JWT access_token');
      },
    };
  },
};
