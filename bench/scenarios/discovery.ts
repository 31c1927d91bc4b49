import { statusProblem } from './requests.js';
import type { Scenario } from './types.js';

/** Scenario 8: the documents every client and resource server fetches, discovery and JWKS. */
function getDocument(id: string, title: string, path: string, expect: string): Scenario {
  return {
    id,
    title,
    floor: 'echo',
    pacedAt70: false,
    targets: [],
    async prepare() {
      return {
        source: { next: () => ({ method: 'GET', path }) },
        check: (status, body) => statusProblem(status, body) ?? (body.includes(expect) ? undefined : `no "${expect}" in the document`),
      };
    },
  };
}

export const discoveryDocument = getDocument('8a', 'discovery (/.well-known/openid-configuration)', '/.well-known/openid-configuration', '"jwks_uri"');
export const jwksDocument = getDocument('8b', 'JWKS (/jwks)', '/jwks', '"keys"');
