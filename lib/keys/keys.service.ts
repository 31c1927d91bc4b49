import crypto from 'node:crypto';
import * as jose from 'jose';
import type { Knex } from 'knex';
import type { Sealer } from '../crypto/seal.js';
import { conflict, invalidInput, notFound } from '../http/errors.js';
import type { KeyQueries, KeyRow } from './keys.queries.js';

/** ES256 signs by default; RS256 is kept for clients that only know RSA (id_token_signed_response_alg). */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
const COOKIE_KEY_BYTES = 32;

/**
 * How many refresh intervals pass between a rotation and the new key signing: every instance
 * polls once per interval, so after two of them every instance publishes (and, for cookie keys,
 * verifies with) the new key before any instance signs with it.
 */
const ACTIVATION_INTERVALS = 2;
/**
 * How many refresh intervals a replaced key stays published beyond the longest token or cookie
 * lifetime: an instance that has not polled yet keeps signing with it for up to one interval,
 * and one more covers a slow poll.
 */
const RETENTION_INTERVALS = 2;

export type KeyUse = 'sig' | 'cookie';
const ROW_USE = { sig: 'signing', cookie: 'cookie' } as const;

export type KeyEventType = 'keys.rotated' | 'keys.activated' | 'keys.retired';
export type KeyEvent = { kid: string; use: string; alg: string } & Record<string, unknown>;

export type KeyMaterial = {
  /** private JWKs for oidc-provider's `jwks`, the signing key of each algorithm first */
  jwks: { keys: jose.JWK[] };
  /** cookie-signing secrets, the one that signs first; the others only verify */
  cookieKeys: string[];
  /** changes whenever a key is added, activated or removed */
  fingerprint: string;
};

export type KeyService = ReturnType<typeof createKeyService>;

export function createKeyService(deps: {
  knex: Knex;
  queries: KeyQueries;
  sealer: Sealer;
  /** how often every instance reloads the keys (LATCH_KEY_REFRESH_INTERVAL), in seconds */
  refreshIntervalSeconds: number;
  /** the longest lifetime, in seconds, of anything a key of this use signs: tokens, or sessions */
  longestLifetime: (use: KeyUse) => Promise<number>;
  /** told of every rotation, activation and retirement, after it is committed */
  onEvent?: (type: KeyEventType, details: KeyEvent) => void;
}) {
  const { knex, queries, sealer } = deps;
  const emit = (events: [KeyEventType, KeyEvent][]) => {
    for (const [type, details] of events) deps.onEvent?.(type, details);
  };

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

  const isRotating = (row: KeyRow) => row.use === 'signing' || row.use === 'cookie';
  const useOf = (row: KeyRow): KeyUse => (row.use === 'cookie' ? 'cookie' : 'sig');
  /** keys that replace each other: a cookie key replaces a cookie key, an ES256 key an ES256 key */
  const sameSlot = (a: KeyRow, b: KeyRow) => a.use === b.use && (a.use === 'cookie' || a.alg === b.alg);

  async function loadIfChanged(unlessFingerprint?: string): Promise<KeyMaterial | undefined> {
    const live = await queries.listLive();
    // listLive puts current keys first: oidc-provider signs with the first key of an
    // algorithm, and cookies are signed with the first cookie key
    const signing = live.filter((k) => k.use === 'signing');
    const cookies = live.filter((k) => k.use === 'cookie');
    const fingerprint = [...signing, ...cookies].map((k) => `${k.kid}:${k.status}`).join(',');
    if (fingerprint === unlessFingerprint) return undefined;
    const keys = signing.map((k) => JSON.parse(sealer.open(k.sealed_private, `key:${k.kid}`)) as jose.JWK);
    const cookieKeys = cookies.map((k) => sealer.open(k.sealed_private, `key:${k.kid}`));
    return { jwks: { keys }, cookieKeys, fingerprint };
  }

  return {
    activationDelaySeconds: ACTIVATION_INTERVALS * deps.refreshIntervalSeconds,

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

    /**
     * Starts a rotation: a 'next' key for each signing algorithm (or a cookie key), published
     * at once and signing from `activatesAt`, when the key it replaces starts retiring.
     */
    async rotate(use: KeyUse = 'sig') {
      if (use !== 'sig' && use !== 'cookie') throw invalidInput('use must be sig or cookie');
      const activatesAt = new Date(Date.now() + ACTIVATION_INTERVALS * deps.refreshIntervalSeconds * 1000);
      const fresh = use === 'sig' ? await Promise.all(SIGNING_ALGORITHMS.map((alg) => newSigningKey(alg, 'next'))) : [newCookieKey('next')];
      await knex.transaction(async (trx) => {
        await queries.lockForKeyCreation(trx);
        const pending = (await queries.listLive(trx)).filter((k) => k.status === 'next' && k.use === ROW_USE[use]);
        if (pending.length) {
          const p = pending[0]!;
          throw conflict(`a rotation is already under way: key ${p.kid} starts signing at ${p.activates_at?.toISOString() ?? 'its activation'}; retire it to cancel`);
        }
        for (const key of fresh) await queries.insert({ ...key, activates_at: activatesAt }, trx);
      });
      const rotated = fresh.map((k) => ({ kid: k.kid, use: k.use, alg: k.alg, status: k.status, activatesAt }));
      emit(rotated.map((k) => ['keys.rotated', k]));
      return rotated;
    },

    /** Stops publishing a key now. The current key of a use cannot be retired: rotate first. */
    async retire(kid: string) {
      if (typeof kid !== 'string' || !kid || kid.length > 200) throw invalidInput('a key id is required');
      const retired = await knex.transaction(async (trx) => {
        await queries.lockForKeyCreation(trx);
        const row = await queries.find(kid, trx);
        if (!row) throw notFound(`key ${kid}`);
        if (!isRotating(row)) throw conflict(`key ${kid} is not a signing or cookie key`);
        if (row.status === 'current') {
          throw conflict(`key ${kid} is the current ${row.use} key; run "latch keys rotate${row.use === 'cookie' ? ' --use cookie' : ''}" and retire it once the new key is current`);
        }
        if (row.status === 'retired') throw conflict(`key ${kid} is already retired`);
        const now = new Date();
        await queries.update(kid, { status: 'retired', retired_at: row.retired_at ?? now, expires_at: now }, trx);
        return { kid, use: row.use, alg: row.alg, status: 'retired' as const, was: row.status };
      });
      emit([['keys.retired', { ...retired, reason: 'admin' }]]);
      return retired;
    },

    /**
     * Moves keys along when their time has come: a 'next' key past `activates_at` becomes
     * current and the key it replaces starts retiring; a retiring key past `expires_at` is
     * retired. Every instance runs this on each refresh; the lock makes it happen once.
     */
    async advance(now = new Date()): Promise<boolean> {
      const due = (rows: KeyRow[]) => ({
        activating: rows.filter((k) => isRotating(k) && k.status === 'next' && k.activates_at && k.activates_at <= now),
        expiring: rows.filter((k) => isRotating(k) && k.status === 'retiring' && k.expires_at && k.expires_at <= now),
      });
      const all = await queries.listAll();
      const first = due(all);
      if (!first.activating.length && !first.expiring.length) return false;
      // read outside the transaction: the embedded database has a single connection
      const retention = {
        sig: (await deps.longestLifetime('sig')) + RETENTION_INTERVALS * deps.refreshIntervalSeconds,
        cookie: (await deps.longestLifetime('cookie')) + RETENTION_INTERVALS * deps.refreshIntervalSeconds,
      };

      const events = await knex.transaction(async (trx) => {
        await queries.lockForKeyCreation(trx);
        const rows = await queries.listAll(trx);
        const { activating, expiring } = due(rows);
        const happened: [KeyEventType, KeyEvent][] = [];
        for (const key of activating.sort((a, b) => a.created_at.getTime() - b.created_at.getTime())) {
          const replaced = rows.filter((k) => k.status === 'current' && sameSlot(k, key));
          const expiresAt = new Date(now.getTime() + retention[useOf(key)] * 1000);
          for (const old of replaced) {
            await queries.update(old.kid, { status: 'retiring', retired_at: now, expires_at: expiresAt }, trx);
            old.status = 'retiring';
          }
          await queries.update(key.kid, { status: 'current', activated_at: now }, trx);
          key.status = 'current';
          happened.push(['keys.activated', { kid: key.kid, use: key.use, alg: key.alg, replaced: replaced.map((k) => k.kid), replacedPublishedUntil: expiresAt }]);
        }
        for (const key of expiring) {
          await queries.update(key.kid, { status: 'retired' }, trx);
          happened.push(['keys.retired', { kid: key.kid, use: key.use, alg: key.alg, reason: 'expired' }]);
        }
        return happened;
      });
      emit(events);
      return events.length > 0;
    },

    /** The published keys, decrypted. */
    async loadKeyMaterial(): Promise<KeyMaterial> {
      return (await loadIfChanged())!;
    },

    /** The published keys, or undefined when their fingerprint is still `fingerprint` (nothing is decrypted then). */
    loadKeyMaterialIfChanged: (fingerprint: string) => loadIfChanged(fingerprint),

    async listKeys() {
      const rows = await queries.listAll();
      return rows.map((k) => ({
        kid: k.kid,
        use: k.use,
        alg: k.alg,
        status: k.status,
        createdAt: k.created_at,
        activatesAt: k.status === 'next' ? k.activates_at : null,
        activatedAt: k.activated_at,
        retiredAt: k.retired_at,
        expiresAt: k.expires_at,
      }));
    },
  };
}
