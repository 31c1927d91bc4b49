import crypto, { type KeyObject } from 'node:crypto';

/**
 * Signs and checks signed cookies for the `cookies` module (Koa's `ctx.cookies`, and so
 * oidc-provider's), in keygrip's place and with keygrip's signatures: the `<name>.sig` cookie
 * holds HMAC-SHA-1 of `<name>=<value>` under the first key, base64url, so cookies signed by
 * either stay valid across an upgrade. `index` says which key a signature was made with
 * (`cookies` re-signs a cookie that an older key signed) or -1.
 *
 * keygrip hands each HMAC the key as text, which Node imports afresh every time, and compares
 * through tsscmp, which draws 32 random bytes and computes two more HMACs to hide the timing:
 * about 40 µs to check one cookie on a loaded machine, and a sign-in flow checks a dozen. Here
 * each key is imported once and a signature is compared with `crypto.timingSafeEqual`.
 *
 * The key list is read on every call: it is the array the provider host updates in place when
 * the cookie keys rotate, the signing key first.
 */
export class CookieSigner {
  private readonly imported = new Map<string, KeyObject>();

  constructor(private readonly keys: readonly string[]) {
    if (!keys.length) throw new Error('cookie signing needs at least one key');
  }

  sign(data: string): string {
    return this.digest(data, this.keys[0]!);
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  index(data: string, digest: string): number {
    const presented = Buffer.from(String(digest));
    for (let i = 0; i < this.keys.length; i += 1) {
      const expected = Buffer.from(this.digest(data, this.keys[i]!));
      // the length of what was presented is no secret; the comparison of equal lengths takes one time
      if (presented.length === expected.length && crypto.timingSafeEqual(presented, expected)) return i;
    }
    return -1;
  }

  private digest(data: string, key: string): string {
    return crypto.createHmac('sha1', this.keyObject(key)).update(data).digest('base64url');
  }

  private keyObject(key: string): KeyObject {
    let imported = this.imported.get(key);
    if (!imported) {
      // keys that rotated out leave; the list is short, so this seldom runs
      if (this.imported.size >= this.keys.length + 4) this.imported.clear();
      // the text's UTF-8 bytes, as Node takes a text key for an HMAC
      this.imported.set(key, (imported = crypto.createSecretKey(Buffer.from(key, 'utf8'))));
    }
    return imported;
  }
}
