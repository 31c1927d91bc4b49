import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { isDatabaseUnavailable } from '../http/error-handler.js';
import { LatchError } from '../http/errors.js';

/**
 * The interaction a hosted page works on. oidc-provider finds it through the interaction
 * cookie, so an interaction id from another browser finds nothing (SECURITY.md E.33).
 */
export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export class InteractionExpired extends LatchError {
  constructor() {
    super('interaction_expired', 'This sign-in request has expired or belongs to another browser. Go back to the application and start again.', 400);
  }
}

export async function loadInteraction(provider: Provider, ctx: Koa.Context): Promise<Interaction> {
  let details: Interaction;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    // an unreachable database is a 503 (the error handler's), not an expired sign-in
    if (isDatabaseUnavailable(err)) throw err;
    throw new InteractionExpired();
  }
  if (details.uid !== ctx.params.uid) throw new InteractionExpired();
  return details;
}

/**
 * Finishes the interaction and sends the browser back to oidc-provider with a 303. Given the
 * interaction this request already loaded, it stores the result on it as
 * `provider.interactionResult` does, without reading the interaction a second time.
 */
export async function finishInteraction(provider: Provider, ctx: Koa.Context, result: InteractionResults, opts: { merge?: boolean; loaded?: Interaction } = {}) {
  const { merge = false, loaded } = opts;
  let redirectTo: string;
  if (loaded) {
    loaded.result = merge && !('error' in result) ? { ...loaded.lastSubmission, ...result } : result;
    await loaded.save(loaded.exp - Math.floor(Date.now() / 1000));
    redirectTo = loaded.returnTo;
  } else {
    redirectTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  }
  ctx.status = 303;
  ctx.redirect(redirectTo);
}
