import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type Koa from 'koa';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Security headers on every response (SECURITY.md E.37), as helmet sets them. The CSP allows
 * only same-origin resources plus scripts carrying this response's nonce (`ctx.state.cspNonce`);
 * the hosted pages have no inline script at all. There is no form-action directive: browsers
 * apply it to the redirect after a form post, and consent must redirect to any registered
 * redirect_uri. oidc-provider adds the hash of its own form_post script when it renders one.
 *
 * helmet's headers depend on nothing in the request but the nonce, so helmet runs once, at
 * start-up, on a response of its own with a placeholder nonce; every request then gets that
 * header set with a fresh nonce in place of the placeholder. Running helmet per request built
 * the same strings again each time, behind a promisified middleware layer.
 */
type WithNonce = http.ServerResponse & { cspNonce?: string };

const NONCE_PLACEHOLDER = `nonce-placeholder-${crypto.randomBytes(8).toString('hex')}`;

function helmetOptions(https: boolean): Readonly<HelmetOptions> {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as WithNonce).cspNonce}'`],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: https ? { maxAge: 31536000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
    crossOriginResourcePolicy: false,
  };
}

/** The headers helmet sets on a response, with the nonce left as a placeholder. */
function headersFromHelmet(options: Readonly<HelmetOptions>): Array<[string, string]> {
  const req = new http.IncomingMessage(new net.Socket());
  const res: WithNonce = new http.ServerResponse(req);
  res.cspNonce = NONCE_PLACEHOLDER;
  let done = false;
  helmet(options)(req, res, (err?: unknown) => {
    if (err) throw err;
    done = true;
  });
  // helmet's middleware is synchronous; a later version that is not would leave headers unset
  if (!done) throw new Error('helmet did not finish synchronously');
  return Object.entries(res.getHeaders()).map(([name, value]) => [name, String(value)]);
}

/**
 * 128-bit CSP nonces, cut from a buffer of random bytes filled 256 nonces at a time: one call
 * into the system's random source per 256 responses instead of one per response. The bytes
 * are the same CSPRNG output either way, and each is used once.
 */
function nonceSource(): () => string {
  const pool = Buffer.alloc(16 * 256);
  let offset = pool.length;
  return () => {
    if (offset === pool.length) {
      crypto.randomFillSync(pool);
      offset = 0;
    }
    offset += 16;
    return pool.toString('base64', offset - 16, offset);
  };
}

export function securityHeaders(deps: { issuer: string }): Koa.Middleware {
  const headers = headersFromHelmet(helmetOptions(new URL(deps.issuer).protocol === 'https:'));
  const fixed = headers.filter(([, value]) => !value.includes(NONCE_PLACEHOLDER));
  const withNonce = headers.filter(([, value]) => value.includes(NONCE_PLACEHOLDER)).map(([name, value]) => [name, value.split(NONCE_PLACEHOLDER)] as const);
  const nextNonce = nonceSource();
  return (ctx, next) => {
    const nonce = nextNonce();
    ctx.state.cspNonce = nonce;
    for (const [name, value] of fixed) ctx.res.setHeader(name, value);
    for (const [name, parts] of withNonce) ctx.res.setHeader(name, parts.join(nonce));
    return next();
  };
}
