import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Renderer } from '../views/renderer.js';

/**
 * Where oidc-provider sends a browser that must sign in or consent. The hosted sign-in pages
 * are not part of this build yet, so the page says so; nothing here completes a login.
 */
export function interactionRoutes(deps: { provider: Provider; renderer: Renderer }) {
  const { provider, renderer } = deps;
  const router = new Router();
  router.get('/interaction/:uid', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      ctx.status = 400;
      ctx.body = renderer.render('pages/error', {
        title: 'This sign-in link has expired',
        message: 'Go back to the application and start again.',
        code: 'invalid_request',
      });
      return;
    }
    if (details.uid !== ctx.params.uid) {
      ctx.status = 400;
      ctx.body = renderer.render('pages/error', { title: 'Something went wrong', message: 'This sign-in belongs to another browser window.', code: 'invalid_request' });
      return;
    }
    const client = await provider.Client.find(String(details.params.client_id));
    ctx.type = 'html';
    ctx.body = renderer.render('pages/interaction-unavailable', { clientName: client?.clientName ?? client?.clientId });
  });
  return router;
}
