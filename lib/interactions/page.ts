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

/** A form field as a bounded string: anything else (arrays, objects, missing) becomes ''. */
export function field(body: unknown, name: string, maxLength = 4096): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value.slice(0, maxLength) : '';
}
