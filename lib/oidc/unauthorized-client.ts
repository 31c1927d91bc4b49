import type Koa from 'koa';
import type Provider from 'oidc-provider';
import { onlyOn } from '../http/only-on.js';

/**
 * A client asking for a grant type outside its own `grant_types` is `unauthorized_client`
 * (RFC 6749 §5.2; RFC 8628 §3.2 for the device authorization endpoint). oidc-provider refuses
 * such requests but names them `invalid_request`, which tells the client nothing about why;
 * this renames that answer when — and only when — the client is known and its allow-list
 * lacks the grant. Grant types the server has no support for stay `unsupported_grant_type`.
 */
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export function answerDisallowedGrantsAsUnauthorizedClient(provider: Provider) {
  provider.use(onlyOn({ method: 'POST', paths: [provider.pathFor('token'), provider.pathFor('device_authorization')] }, async (ctx: Koa.Context, next: Koa.Next) => {
    await next();
    if (ctx.status !== 400) return;
    const body = ctx.body as { error?: unknown } | undefined;
    const client = ctx.oidc?.client;
    if (!client || typeof body !== 'object' || body === null || body.error !== 'invalid_request') return;
    let grantType: unknown;
    if (ctx.path === provider.pathFor('token')) grantType = (ctx.oidc.params as Record<string, unknown> | undefined)?.grant_type;
    else if (ctx.path === provider.pathFor('device_authorization')) grantType = DEVICE_CODE_GRANT;
    if (typeof grantType !== 'string' || client.grantTypeAllowed(grantType)) return;
    ctx.body = { error: 'unauthorized_client', error_description: `this client is not allowed the ${grantType} grant` };
  }));
}
