import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Renderer } from '../views/renderer.js';

/**
 * The pages oidc-provider renders itself (errors, device code entry and confirmation, logout),
 * drawn with Latch's templates so they share the layout, escaping and CSP of the hosted pages.
 */
type Ctx = KoaContextWithOIDC;

function html(ctx: Ctx, body: string) {
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

function sessionXsrf(ctx: Ctx): string {
  return (ctx.oidc.session?.state as { secret?: string } | undefined)?.secret ?? '';
}

export function createPages(renderer: Renderer) {
  return {
    async renderError(ctx: Ctx, out: { error: string; error_description?: string }, _error: Error) {
      html(
        ctx,
        renderer.render('pages/error', {
          title: 'Something went wrong',
          message: out.error_description ?? 'The request could not be completed.',
          code: out.error,
        }),
      );
    },

    async deviceCodeInput(ctx: Ctx, _form: string, _out?: unknown, err?: Error & { userCode?: string }) {
      let message: string | undefined;
      if (err?.name === 'NoCodeError' || err?.name === 'NotFoundError') message = 'That code is not valid. Check it and try again.';
      else if (err?.name === 'ExpiredError') message = 'That code has expired. Ask the device for a new one.';
      else if (err?.name === 'AlreadyUsedError') message = 'That code has already been used.';
      else if (err?.name === 'AbortedError') message = 'The sign-in request was cancelled.';
      else if (err) message = 'The request could not be completed. Try again.';
      if (message) ctx.status = err?.name === 'AbortedError' ? 200 : 400;
      html(
        ctx,
        renderer.render('pages/device-code', {
          action: ctx.oidc.urlFor('code_verification'),
          xsrf: sessionXsrf(ctx),
          userCode: err?.userCode ?? '',
          message,
        }),
      );
    },

    async deviceCodeConfirm(ctx: Ctx, _form: string, client: { clientId: string; clientName?: string }, deviceInfo: { ip?: string; ua?: string } | undefined, userCode: string) {
      html(
        ctx,
        renderer.render('pages/device-confirm', {
          action: ctx.oidc.urlFor('code_verification'),
          xsrf: sessionXsrf(ctx),
          clientName: client.clientName ?? client.clientId,
          ip: deviceInfo?.ip,
          userAgent: deviceInfo?.ua,
          userCode,
        }),
      );
    },

    async deviceSuccess(ctx: Ctx) {
      html(ctx, renderer.render('pages/device-success', { clientName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId }));
    },

    async logout(ctx: Ctx, form: string) {
      // `form` is oidc-provider's hidden form carrying its own CSRF token; buttons below submit it.
      html(ctx, renderer.render('pages/logout', { form, clientName: ctx.oidc.client?.clientName }));
    },

    async postLogout(ctx: Ctx) {
      html(ctx, renderer.render('pages/signed-out', { clientName: ctx.oidc.client?.clientName }));
    },
  };
}
