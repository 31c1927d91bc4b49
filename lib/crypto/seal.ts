import crypto from 'node:crypto';

/**
 * Encryption at rest for private keys and MFA secrets: AES-256-GCM under a key derived
 * from LATCH_SECRET with HKDF-SHA256. Without a secret, values are stored encoded but not
 * encrypted (start-up warns; production refuses to start).
 *
 *   v1.<iv>.<ciphertext>.<tag>   sealed with LATCH_SECRET
 *   v0.<plaintext>               stored without a secret
 */
export class SealError extends Error {
  override name = 'SealError';
}

export type Sealer = ReturnType<typeof createSealer>;

export function createSealer(secret: string | undefined) {
  const key = secret
    ? Buffer.from(crypto.hkdfSync('sha256', secret, 'latch', 'latch at-rest encryption v1', 32))
    : undefined;

  return {
    encrypts: key !== undefined,

    seal(plaintext: string, context: string): string {
      if (!key) return `v0.${Buffer.from(plaintext).toString('base64url')}`;
      const iv = crypto.randomBytes(12);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },

    open(sealed: string, context: string): string {
      const [version, ...parts] = sealed.split('.');
      if (version === 'v0' && parts.length === 1) return Buffer.from(parts[0]!, 'base64url').toString('utf8');
      if (version !== 'v1' || parts.length !== 3) throw new SealError('unrecognised sealed value');
      if (!key) throw new SealError('this value was encrypted with LATCH_SECRET, which is not set');
      const [iv, ciphertext, tag] = parts.map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
      try {
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
      } catch {
        throw new SealError('cannot decrypt: LATCH_SECRET differs from the one the value was sealed with');
      }
    },
  };
}
