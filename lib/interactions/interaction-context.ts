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
 * Finishes the interaction this request loaded (loadInteraction) and sends the browser back to
 * oidc-provider with a 303. The result is stored on that interaction as
 * `provider.interactionResult` does, without reading the interaction a second time.
 */
export async function finishInteraction(ctx: Koa.Context, interaction: Interaction, result: InteractionResults, merge = false) {
  interaction.result = merge && !('error' in result) ? { ...interaction.lastSubmission, ...result } : result;
  await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
  ctx.status = 303;
  ctx.redirect(interaction.returnTo);
}
