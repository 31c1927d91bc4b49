import argon2 from 'argon2';
import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * Password rules and hashing (SECURITY.md D.24, D.25; OWASP ASVS V6, NIST SP 800-63B).
 * argon2id at OWASP's minimum: m=19456 KiB, t=2, p=1. Hashes are PHC strings, so parameters
 * travel with each hash and a changed policy rehashes at the next sign-in.
 */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;
export const PASSWORD_MIN_LENGTH = 8;
/** Longer input is refused before hashing, so nobody can make the server hash megabytes. */
export const PASSWORD_MAX_BYTES = 1024;

const COMMON_PASSWORDS = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));

export type PasswordProblem = 'too_short' | 'too_long' | 'too_common';

export function passwordProblem(password: string, context: { email?: string } = {}): PasswordProblem | undefined {
  if ([...password].length < PASSWORD_MIN_LENGTH) return 'too_short';
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return 'too_long';
  const lowered = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lowered)) return 'too_common';
  if (context.email && lowered === context.email.toLowerCase()) return 'too_common';
  return undefined;
}

export const PASSWORD_PROBLEM_MESSAGES: Record<PasswordProblem, string> = {
  too_short: `Use at least ${PASSWORD_MIN_LENGTH} characters.`,
  too_long: `Use at most ${PASSWORD_MAX_BYTES} bytes.`,
  too_common: 'That password is too common. Choose another.',
};

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

// Verified against when the account does not exist, so the answer takes as long either way.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(hash: string | null | undefined, password: string): Promise<boolean> {
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return false;
  if (!hash) {
    dummyHash ??= hashPassword('latch-dummy-password-for-timing');
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

export function passwordNeedsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, ARGON2_OPTIONS);
}
