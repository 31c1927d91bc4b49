import { basicAuth, parseJson, postForm, roundRobin, statusProblem } from './requests.js';
import type { Scenario, Target } from './types.js';

/**
 * Scenario 3: a resource server introspects opaque client_credentials tokens (minted through
 * the server's own token endpoint just before), with and without token_type_hint.
 */
async function mintOpaqueTokens(target: Target, count: number): Promise<string[]> {
  const nextAuth = roundRobin(target.fixture.machines.map(basicAuth));
  const tokens: string[] = [];
  while (tokens.length < count) {
    const batch = Array.from({ length: Math.min(20, count - tokens.length) }, async () => {
      const spec = postForm('/token', nextAuth(), { grant_type: 'client_credentials' });
      const res = await fetch(target.url + spec.path, { method: spec.method, headers: spec.headers, body: spec.body });
      const body = (await res.json()) as { access_token?: string };
      if (!res.ok || !body.access_token) throw new Error(`minting an opaque token on ${target.label} failed: HTTP ${res.status}`);
      return body.access_token;
    });
    tokens.push(...(await Promise.all(batch)));
  }
  return tokens;
}

function introspection(id: string, title: string, hint: string | undefined): Scenario {
  return {
    id,
    title,
    floor: 'echo',
    pacedAt70: true,
    storesTokens: true,
    targets: [
      { metric: 'rps', against: 'ceiling', atLeast: 0.8 },
      { metric: 'p99At70', atMostMs: 25 },
    ],
    async prepare(target, sizes) {
      const nextToken = roundRobin(await mintOpaqueTokens(target, sizes.introspectionTokens));
      const resourceServer = basicAuth(target.fixture.machines[0]!);
      return {
        source: { next: () => postForm('/token/introspection', resourceServer, { token: nextToken(), ...(hint ? { token_type_hint: hint } : {}) }) },
        check: (status, body) => statusProblem(status, body) ?? (parseJson(body)?.active === true ? undefined : 'token not active'),
      };
    },
  };
}

export const introspectionWithHint = introspection('3a', 'introspection of an opaque token, token_type_hint=access_token', 'access_token');
export const introspectionWithoutHint = introspection('3b', 'introspection of an opaque token, no hint', undefined);
