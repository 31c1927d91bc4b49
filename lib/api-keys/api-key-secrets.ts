import crypto, { type KeyObject } from 'node:crypto';

/**
 * The shape of an API key and how it is checked (SECURITY.md F.38).
 *
 *   latch_<public id: 12 × [a-z0-9]>_<secret: 43 × base62>
 *
 * The prefix makes a leaked key recognisable (secret scanners, logs); the public id names the
 * key in listings and lets the server find its row without a scan; the secret carries
 * 43 × log2(62) ≈ 256 bits from the CSPRNG (≥ 128 required). Only HMAC-SHA-256 of the whole key
 * is stored: for a secret of this entropy a fast keyed hash is enough (no password hashing), and
 * without the server's HMAC key even a copy of the table cannot be used to check a guess.
 */
export const API_KEY_PREFIX = 'latch_';
const PUBLIC_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PUBLIC_ID_LENGTH = 12;
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_LENGTH = 43;
const API_KEY_PATTERN = /^latch_([a-z0-9]{12})_([A-Za-z0-9]{43})$/;
/** a header value longer than this is not looked at at all */
export const API_KEY_MAX_LENGTH = 128;

/** `last_used_at` moves at most this often per key (the issue: "at most once a minute"). */
export const LAST_USED_RESOLUTION_SECONDS = 60;
export const DEFAULT_TTL_SECONDS = 90 * 86400;
export const MAX_TTL_SECONDS = 366 * 86400;
export const MIN_TTL_SECONDS = 60;
/** how long the previous secret keeps working after a rotation, unless the caller chooses */
export const DEFAULT_GRACE_SECONDS = 3600;
export const MAX_GRACE_SECONDS = 7 * 86400;

/** `crypto.randomInt` draws each character without modulo bias. */
function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphabet[crypto.randomInt(alphabet.length)];
  return out;
}

export function newPublicId(): string {
  return randomString(PUBLIC_ID_ALPHABET, PUBLIC_ID_LENGTH);
}

export function newApiKey(publicId: string): string {
  return `${API_KEY_PREFIX}${publicId}_${randomString(SECRET_ALPHABET, SECRET_LENGTH)}`;
}

/** What listings show: enough to recognise a key, nothing that authenticates. */
export function displayPrefix(publicId: string): string {
  return `${API_KEY_PREFIX}${publicId}`;
}

export function parseApiKey(value: string): { publicId: string } | undefined {
  if (value.length > API_KEY_MAX_LENGTH) return undefined;
  const match = API_KEY_PATTERN.exec(value);
  return match ? { publicId: match[1]! } : undefined;
}

export function looksLikeApiKey(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(API_KEY_PREFIX);
}

export function hashApiKey(hmacKey: KeyObject, key: string): string {
  return crypto.createHmac('sha256', hmacKey).update(key, 'utf8').digest('base64url');
}

/** Compares two hashes in time independent of where they differ. */
export function sameHash(a: string, b: string | null): boolean {
  if (b === null) return false;
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
