import type Koa from 'koa';
import type { Renderer } from '../views/renderer.js';

/** Renders a hosted page: never cached, with this response's CSRF token for its forms. */
export function renderPage(ctx: Koa.Context, renderer: Renderer, view: string, data: Record<string, unknown>, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  const csrfToken = typeof ctx.state.csrfToken === 'function' ? (ctx.state.csrfToken as () => string)() : undefined;
  ctx.body = renderer.render(view, { ...data, csrfToken, cspNonce: ctx.state.cspNonce });
}

/**
 * A form field as a bounded string: anything else (arrays, objects, missing) becomes '', and
 * so does a value with a NUL character, which no field legitimately holds and PostgreSQL
 * cannot store — the form then answers as for a missing value.
 */
export function field(body: unknown, name: string, maxLength = 4096): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && !value.includes('\u0000') ? value.slice(0, maxLength) : '';
}

/** True when a posted field holds a NUL character (hostile input, refused with a message). */
export function hasNul(body: unknown, ...names: string[]): boolean {
  return names.some((name) => {
    const value = (body as Record<string, unknown> | undefined)?.[name];
    return typeof value === 'string' && value.includes('\u0000');
  });
}
