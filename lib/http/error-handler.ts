import type Koa from 'koa';
import type { Logger } from '../log.js';
import type { Renderer } from '../views/renderer.js';
import { LatchError } from './errors.js';
import type { RequestObserver } from './request-observer.js';

const CLIENT_ERRORS: Record<number, [string, string]> = {
  400: ['invalid_request', 'the request body could not be parsed'],
  413: ['payload_too_large', 'the request body is too large'],
  415: ['unsupported_media_type', 'send application/json or a form'],
};

function isClientError(err: unknown): boolean {
  const status = (err as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** True for failures that mean the database cannot be reached right now. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string } | undefined;
  if (!e) return false;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004'].includes(e.code ?? '') ||
    e.name === 'KnexTimeoutError' ||
    /Connection terminated|Knex: Timeout acquiring a connection/i.test(e.message ?? '')
  );
}

/**
 * True for input PostgreSQL cannot store as text: a NUL character (22021, invalid byte
 * sequence) or one jsonb refuses (22P05). Such input is the client's mistake, not ours.
 */
export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === '22021' || code === '22P05';
}

/**
 * Turns errors from Latch's own routes into `{error, message}` JSON (API callers) or an error
 * page (browsers). Nothing internal — stack, SQL, library text — reaches the client.
 */
export function errorHandler(deps: { log: Logger; renderer: Renderer }): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      let status = 500;
      let code = 'server_error';
      let message = 'something went wrong on our side';
      let details: unknown;
      if (err instanceof LatchError) {
        ({ status, code, message, details } = err);
      } else if (isDatabaseUnavailable(err)) {
        status = 503;
        code = 'unavailable';
        message = 'the database is unreachable; try again shortly';
      } else if (isUnstorableText(err)) {
        status = 400;
        code = 'invalid_input';
        message = 'the request contains a character that is not allowed (such as NUL)';
      } else if (isClientError(err)) {
        // body parsing and the like (co-body, koa): a fixed, safe message per status
        status = (err as { status: number }).status;
        [code, message] = CLIENT_ERRORS[status] ?? ['invalid_request', 'the request is malformed'];
      }
      if (status >= 500) deps.log.error({ err, path: ctx.path }, 'request failed');
      ctx.status = status;
      ctx.set('Cache-Control', 'no-store');
      if (status === 503) ctx.set('Retry-After', '5');
      // pages for browsers; JSON for the API and for callers that ask for it
      if (!ctx.path.startsWith('/api/') && ctx.accepts('html', 'json') === 'html') {
        ctx.type = 'html';
        ctx.body = deps.renderer.render('pages/error', { title: 'Something went wrong', message, code });
      } else {
        ctx.body = details && typeof details === 'object' ? { error: code, message, ...details } : { error: code, message };
      }
    }
  };
}

/**
 * One JSON log line per request, with status and duration, when its response is done. The line
 * holds nothing but the method, the path (without its query), the status and the time, so it
 * skips the redaction of secrets the logger otherwise applies (half the cost of a line).
 */
export function requestLog(logger: Logger): RequestObserver {
  const log = logger.child({}, { redact: [] });
  return (ctx, ms) => {
    const line = { method: ctx.method, path: ctx.path, status: ctx.res.statusCode, ms: Math.round(ms * 10) / 10 };
    log.info(ctx.res.writableFinished ? line : { ...line, aborted: true }, 'request');
  };
}

/** Whatever no route answered gets an OAuth-style error body rather than Koa's plain text. */
export function unknownRoute(): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.body = { error: 'invalid_request', error_description: `unrecognized route or not allowed method (${ctx.method} on ${ctx.path})` };
    }
  };
}
