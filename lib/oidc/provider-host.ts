import type Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import { CookieSigner } from '../keys/cookie-signer.js';
import type { KeyMaterial } from '../keys/keys.service.js';

/**
 * oidc-provider reads its `jwks` once, when it is constructed, and has no way to swap its
 * keystore afterwards. So new signing keys mean a new Provider, built from the same
 * configuration, and swapped in behind the mount in one assignment: a request that already
 * entered the old one finishes there, the next request meets the new one. Both share the
 * database, so interactions, sessions and grants carry over. Cookie keys need no rebuild:
 * `cookieKeys` is one array, updated in place, and `cookieSigner` (signing with it) is shared
 * by the app and every Provider.
 */
export type ProviderHost = ReturnType<typeof createProviderHost>;

export function createProviderHost(build: (material: KeyMaterial) => Provider, initial: KeyMaterial) {
  const cookieKeys: string[] = [...initial.cookieKeys];
  const cookieSigner = new CookieSigner(cookieKeys);
  const create = (material: KeyMaterial) => {
    const provider = build(material);
    provider.keys = cookieSigner;
    return provider;
  };
  let current = create(initial);
  let downstream = mount(current);

  return {
    get current(): Provider {
      return current;
    },
    /** the signed-cookie keys, the signing one first; the same array object for the app's lifetime */
    cookieKeys,
    /** signs and checks cookies with `cookieKeys` (Koa's and oidc-provider's `keys`) */
    cookieSigner,
    swap(material: KeyMaterial) {
      const next = create(material);
      cookieKeys.splice(0, cookieKeys.length, ...material.cookieKeys);
      current = next;
      downstream = mount(next);
    },
    /** the Koa middleware that hands a request to whichever Provider is current when it arrives */
    middleware(): Koa.Middleware {
      return (ctx, next) => downstream(ctx as never, next);
    },
  };
}
