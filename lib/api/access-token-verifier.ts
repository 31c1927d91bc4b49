import * as jose from 'jose';

/**
 * Verifies bearer JWTs (RFC 9068) issued for Latch's own API offline, against the public half
 * of Latch's signing keys: signature, `typ`, `iss`, `aud` and `exp`.
 */
export type VerifiedAccessToken = { sub: string; scopes: string[]; clientId?: string; orgId: string | null };

export function createAccessTokenVerifier(deps: { issuer: string; audience: string; privateJwks: jose.JWK[] }) {
  const publicKeys = deps.privateJwks.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub);
  const keySet = jose.createLocalJWKSet({ keys: publicKeys });

  return async function verify(token: string): Promise<VerifiedAccessToken | undefined> {
    try {
      const { payload } = await jose.jwtVerify(token, keySet, {
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
