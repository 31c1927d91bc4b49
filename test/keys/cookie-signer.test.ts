import crypto from 'node:crypto';
import { expect } from 'chai';
import { CookieSigner } from '../../lib/keys/cookie-signer.js';

/** keygrip's signature of a cookie (HMAC-SHA-1 of `name=value` under a text key, base64url) */
const keygripSignature = (data: string, key: string) => crypto.createHmac('sha1', key).update(data).digest('base64url');

describe('CookieSigner', () => {
  const data = `_session=${crypto.randomBytes(21).toString('base64url')}`;

  it('signs as keygrip does, with the first key, so existing cookies stay valid', () => {
    const keys = [crypto.randomBytes(32).toString('base64url'), crypto.randomBytes(32).toString('base64url')];
    const signer = new CookieSigner(keys);
    expect(signer.sign(data)).to.equal(keygripSignature(data, keys[0]!));
    // a key with characters beyond ASCII is taken as its UTF-8 bytes, as Node takes a text key
    const unicode = new CookieSigner(['clé-ü-🔑']);
    expect(unicode.sign(data)).to.equal(keygripSignature(data, 'clé-ü-🔑'));
  });

  it('says which key signed a cookie, and -1 for anything else', () => {
    const [current, older] = ['current-key', 'older-key'];
    const signer = new CookieSigner([current, older]);
    expect(signer.index(data, keygripSignature(data, current))).to.equal(0);
    expect(signer.index(data, keygripSignature(data, older))).to.equal(1);
    expect(signer.verify(data, keygripSignature(data, older))).to.equal(true);

    const good = keygripSignature(data, current);
    const flipped = `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [keygripSignature(data, 'another-key'), keygripSignature(`${data}x`, current), flipped, good.slice(1), `${good}=`, `${good}A`, '', 'x'.repeat(10_000), 'é'.repeat(27)]) {
      expect(signer.index(data, bad), bad.slice(0, 40)).to.equal(-1);
      expect(signer.verify(data, bad)).to.equal(false);
    }
    // the same bytes in standard base64 are another text, and keygrip refuses them too
    const standard = Buffer.from(good, 'base64url').toString('base64');
    if (standard !== good) expect(signer.index(data, standard)).to.equal(-1);
  });

  it('follows the key array as it is updated in place (a rotation)', () => {
    const keys = ['first-key'];
    const signer = new CookieSigner(keys);
    const before = signer.sign(data);
    keys.splice(0, keys.length, 'second-key', 'first-key');
    expect(signer.sign(data)).to.equal(keygripSignature(data, 'second-key'));
    expect(signer.index(data, before)).to.equal(1);
    keys.splice(0, keys.length, 'second-key');
    expect(signer.index(data, before)).to.equal(-1);
    // many rotations later it still signs with whatever is first
    for (let i = 0; i < 50; i += 1) keys.splice(0, keys.length, `key-${i}`, keys[0]!);
    expect(signer.sign(data)).to.equal(keygripSignature(data, 'key-49'));
    expect(signer.index(data, keygripSignature(data, 'key-48'))).to.equal(1);
  });

  it('refuses to start without a key', () => {
    expect(() => new CookieSigner([])).to.throw(/at least one key/);
  });
});
