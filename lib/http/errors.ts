/**
 * Latch's own error type: a stable machine-readable code, an HTTP status and a message that
 * is safe to show. Protocol errors are oidc-provider's own (`errors` from oidc-provider).
 */
export class LatchError extends Error {
  override name = 'LatchError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new LatchError('not_found', `${what} was not found`, 404);
export const invalidInput = (message: string, details?: unknown) => new LatchError('invalid_input', message, 400, details);
export const conflict = (message: string) => new LatchError('conflict', message, 409);
export const unauthenticated = (message = 'authentication is required') => new LatchError('unauthenticated', message, 401);
export const forbidden = (message = 'you are not allowed to do this') => new LatchError('forbidden', message, 403);
export const unavailable = (message = 'the service is temporarily unavailable') => new LatchError('unavailable', message, 503);
