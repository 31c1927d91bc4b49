import { bodyParser } from '@koa/bodyparser';
import type Koa from 'koa';

/**
 * Form and JSON bodies for Latch's own routes (never in front of oidc-provider, which reads
 * its own). Small limits: the largest legitimate field is a 1 KiB password.
 */
export const FORM_LIMIT = '64kb';

export function parseBody(): Koa.Middleware {
  return bodyParser({
    enableTypes: ['form', 'json'],
    formLimit: FORM_LIMIT,
    jsonLimit: FORM_LIMIT,
    encoding: 'utf-8',
  }) as unknown as Koa.Middleware;
}
