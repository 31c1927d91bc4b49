import crypto from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type Koa from 'koa';
import helmet from 'koa-helmet';

/**
 * Security headers on every response (SECURITY.md E.37), set by helmet. The CSP allows only
 * same-origin resources plus scripts carrying this response's nonce (`ctx.state.cspNonce`);
 * the hosted pages have no inline script at all. There is no form-action directive: browsers
 * apply it to the redirect after a form post, and consent must redirect to any registered
 * redirect_uri. oidc-provider adds the hash of its own form_post script when it renders one.
 */
type WithNonce = ServerResponse & { cspNonce?: string };

export function securityHeaders(deps: { issuer: string }): Koa.Middleware[] {
  const https = new URL(deps.issuer).protocol === 'https:';
  const nonce = async (ctx: Koa.Context, next: Koa.Next) => {
    const value = crypto.randomBytes(16).toString('base64');
    ctx.state.cspNonce = value;
    (ctx.res as WithNonce).cspNonce = value;
    await next();
  };
  const headers = helmet({
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
  }) as unknown as Koa.Middleware;
  return [nonce, headers];
}
