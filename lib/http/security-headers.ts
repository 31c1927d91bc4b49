import type Koa from 'koa';

/**
 * Headers on every response (SECURITY.md E.37). Hosted pages carry no inline script or style,
 * so the CSP allows only same-origin resources; nothing may frame Latch. There is no
 * form-action directive: browsers apply it to the redirect that follows a form post, and the
 * consent and device forms must be able to redirect to any registered redirect_uri.
 */
export function securityHeaders(deps: { issuer: string }): Koa.Middleware {
  const https = new URL(deps.issuer).protocol === 'https:';
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    if (https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
