import * as jose from 'jose';

/**
 * Verifies bearer JWTs (RFC 9068) issued for Latch's own API offline, against the public half
 * of Latch's signing keys: signature, `typ`, `iss`, `aud` and `exp`. The keys are read on each
 * call, so a key rotation picked up by this instance applies here at once.
 */
export type VerifiedAccessToken = { sub: string; scopes: string[]; clientId?: string; orgId: string | null };

type PrivateJwks = () => jose.JWK[];

function publicKeySet(privateJwks: jose.JWK[]) {
  const publicKeys = privateJwks.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub);
  return jose.createLocalJWKSet({ keys: publicKeys });
}

export function createAccessTokenVerifier(deps: { issuer: string; audience: string; privateJwks: PrivateJwks }) {
  let source: jose.JWK[] | undefined;
  let keySet: ReturnType<typeof publicKeySet> | undefined;
  const currentKeySet = () => {
    const jwks = deps.privateJwks();
    if (jwks !== source || !keySet) {
      source = jwks;
      keySet = publicKeySet(jwks);
    }
    return keySet;
  };

  return async function verify(token: string): Promise<VerifiedAccessToken | undefined> {
    try {
      const { payload } = await jose.jwtVerify(token, currentKeySet(), {
        issuer: deps.issuer,
        audience: deps.audience,
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'],
      });
      if (typeof payload.sub !== 'string') return undefined;
      return {
        sub: payload.sub,
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
        clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
        orgId: typeof payload.org_id === 'string' ? payload.org_id : null,
      };
    } catch {
      return undefined;
    }
  };
}
