import { basicAuth, parseJson, postForm, statusProblem } from './requests.js';
import type { RequestSpec, Scenario } from './types.js';

/**
 * Scenario 5: refresh-token rotation. Chains of refresh tokens (each minted for a web-app
 * client and an account, as a finished code flow leaves them) wait in a queue; every request
 * takes one, and a 200 puts the rotated token back, so no token is ever presented twice.
 * A chain whose request fails is dropped; an empty queue sends a dead token (a counted error).
 */
type Chain = { refreshToken: string; authorization: string };

export const refreshRotation: Scenario = {
  id: '5',
  title: 'refresh-token rotation',
  floor: 'echo',
  pacedAt70: true,
  storesTokens: true,
  targets: [{ metric: 'p99At70', atMostMs: 25 }],
  async prepare(target, sizes) {
    const apps = target.fixture.apps;
    const tokens = await target.mintRefreshTokens(sizes.refreshChains);
    // minted round-robin over the app clients, in the same order
    const queue: Chain[] = tokens.map((refreshToken, i) => ({ refreshToken, authorization: basicAuth(apps[i % apps.length]!) }));
    const deadAuthorization = basicAuth(apps[0]!);
    return {
      source: {
        next(): RequestSpec {
          const chain = queue.shift();
          const spec = postForm('/token', chain?.authorization ?? deadAuthorization, { grant_type: 'refresh_token', refresh_token: chain?.refreshToken ?? 'exhausted' });
          return { ...spec, tag: chain };
        },
        onResponse(status, body, tag) {
          const chain = tag as Chain | undefined;
          const rotated = status === 200 ? parseJson(body)?.refresh_token : undefined;
          if (chain && typeof rotated === 'string') queue.push({ refreshToken: rotated, authorization: chain.authorization });
        },
      },
      check(status, body) {
        const json = parseJson(body);
        return statusProblem(status, body) ?? (typeof json?.refresh_token === 'string' && typeof json.access_token === 'string' ? undefined : 'no rotated refresh_token');
      },
    };
  },
};
