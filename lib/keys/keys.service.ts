import crypto from 'node:crypto';
import * as jose from 'jose';
import type { Knex } from 'knex';
import type { Sealer } from '../crypto/seal.js';
import type { KeyQueries, KeyRow } from './keys.queries.js';

/** ES256 signs by default; RS256 is kept for clients that only know RSA (id_token_signed_response_alg). */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
const COOKIE_KEY_BYTES = 32;

export type KeyMaterial = {
  /** private JWKs for oidc-provider's `jwks`, the signing key of each algorithm first */
  jwks: { keys: jose.JWK[] };
  /** cookie-signing secrets, the one that signs first */
  cookieKeys: string[];
};

export type KeyService = ReturnType<typeof createKeyService>;

export function createKeyService(deps: { knex: Knex; queries: KeyQueries; sealer: Sealer }) {
  const { knex, queries, sealer } = deps;

  async function newSigningKey(alg: string, status: KeyRow['status']) {
    const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
    const publicJwk = await jose.exportJWK(publicKey);
    const kid = await jose.calculateJwkThumbprint(publicJwk);
    const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg, use: 'sig' };
    return {
      kid,
      use: 'signing' as const,
      alg,
      public_jwk: { ...publicJwk, kid, alg, use: 'sig' },
      sealed_private: sealer.seal(JSON.stringify(privateJwk), `key:${kid}`),
      status,
      activated_at: status === 'current' ? new Date() : null,
    };
  }

  function newCookieKey(status: KeyRow['status']) {
    const kid = `cookie-${crypto.randomUUID()}`;
    return {
      kid,
      use: 'cookie' as const,
      alg: 'HS256',
      public_jwk: null,
      sealed_private: sealer.seal(crypto.randomBytes(COOKIE_KEY_BYTES).toString('base64url'), `key:${kid}`),
      status,
      activated_at: status === 'current' ? new Date() : null,
    };
  }

  return {
    /**
     * Creates the signing and cookie keys a fresh database lacks. Run at start by every
     * instance; the advisory lock makes sure only one of them creates keys.
     */
    async ensureKeys(): Promise<string[]> {
      return knex.transaction(async (trx) => {
        await queries.lockForKeyCreation(trx);
        const live = await queries.listLive(trx);
        const created: string[] = [];
        for (const alg of SIGNING_ALGORITHMS) {
          if (!live.some((k) => k.use === 'signing' && k.alg === alg && k.status === 'current')) {
            const key = await newSigningKey(alg, 'current');
            await queries.insert(key, trx);
            created.push(key.kid);
          }
        }
        if (!live.some((k) => k.use === 'cookie' && k.status === 'current')) {
          const key = newCookieKey('current');
          await queries.insert(key, trx);
          created.push(key.kid);
        }
        return created;
      });
    },

    async loadKeyMaterial(): Promise<KeyMaterial> {
      const live = await queries.listLive();
      const signing = live.filter((k) => k.use === 'signing');
      // oidc-provider signs with the first key of an algorithm, so current keys lead.
      const keys = signing.map((k) => JSON.parse(sealer.open(k.sealed_private, `key:${k.kid}`)) as jose.JWK);
      const cookieKeys = live.filter((k) => k.use === 'cookie').map((k) => sealer.open(k.sealed_private, `key:${k.kid}`));
      return { jwks: { keys }, cookieKeys };
    },

    async listKeys() {
      const rows = await queries.listAll();
      return rows.map((k) => ({
        kid: k.kid,
        use: k.use,
        alg: k.alg,
        status: k.status,
        createdAt: k.created_at,
        activatedAt: k.activated_at,
        retiredAt: k.retired_at,
        expiresAt: k.expires_at,
      }));
    },
  };
}
