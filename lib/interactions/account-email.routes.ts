import Router from '@koa/router';
import type Koa from 'koa';
import { AccountError, type AccountService } from '../accounts/accounts.service.js';
import { Throttled } from '../throttling/throttle.service.js';
import type { Renderer } from '../views/renderer.js';
import { field, renderPage } from './page.js';

/**
 * Pages reached from e-mail: forgot / reset password and e-mail verification. Links only
 * show a page (GET changes nothing); the change happens when the form is posted.
 *
 *   GET/POST /forgot-password   ask for a reset link (same answer whether or not the address exists)
 *   GET/POST /reset-password    choose a new password with the link's token
 *   GET/POST /verify-email      confirm the address with the link's token
 */
export function accountEmailRoutes(deps: { renderer: Renderer; accounts: AccountService }, formMiddleware: Koa.Middleware[]) {
  const { renderer, accounts } = deps;
  const router = new Router();
  router.use(['/forgot-password', '/reset-password', '/verify-email'], ...formMiddleware);
  const expired = (ctx: Koa.Context) =>
    renderPage(ctx, renderer, 'pages/message', {
      title: 'This link has expired',
      message: 'The link has expired or was already used. Ask for a new one.',
      link: { href: '/forgot-password', label: 'Reset your password' },
    }, 400);

  router.get('/forgot-password', (ctx) => renderPage(ctx, renderer, 'pages/forgot-password', {}));

  router.post('/forgot-password', async (ctx) => {
    const email = field(ctx.request.body, 'email', 320);
    try {
      await accounts.requestPasswordReset(email, { ip: ctx.ip });
      renderPage(ctx, renderer, 'pages/message', {
        title: 'Check your e-mail',
        message: `If ${email} belongs to an account, we sent it a link to choose a new password. The link works once, for 10 minutes.`,
      });
    } catch (err) {
      if (err instanceof Throttled) {
        ctx.set('Retry-After', String(err.retryAfterSeconds));
        renderPage(ctx, renderer, 'pages/forgot-password', { email, error: `Too many requests. Try again in ${err.retryAfterSeconds} seconds.` }, 429);
      } else if (err instanceof AccountError) {
        renderPage(ctx, renderer, 'pages/forgot-password', { email, error: err.message }, 400);
      } else throw err;
    }
  });

  router.get('/reset-password', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    if (!(await accounts.peekPasswordReset(token))) return expired(ctx);
    renderPage(ctx, renderer, 'pages/reset-password', { token });
  });

  router.post('/reset-password', async (ctx) => {
    const token = field(ctx.request.body, 'token', 200);
    try {
      await accounts.resetPassword(token, field(ctx.request.body, 'password', 4096));
      renderPage(ctx, renderer, 'pages/message', {
        title: 'Password changed',
        message: 'Your password was changed and every session was signed out. Go back to your app and sign in with the new password.',
      });
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      if (err.code === 'invalid_token') return expired(ctx);
      renderPage(ctx, renderer, 'pages/reset-password', { token, error: err.message }, 400);
    }
  });

  router.get('/verify-email', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const account = await accounts.peekEmailVerification(token);
    if (!account) {
      return renderPage(ctx, renderer, 'pages/message', { title: 'This link has expired', message: 'The link has expired or was already used. Sign in to get a new one.' }, 400);
    }
    renderPage(ctx, renderer, 'pages/verify-email', { token, email: account.email });
  });

  router.post('/verify-email', async (ctx) => {
    try {
      const account = await accounts.verifyEmail(field(ctx.request.body, 'token', 200));
      renderPage(ctx, renderer, 'pages/message', { title: 'E-mail address confirmed', message: `${account.email} is confirmed. You can close this page.` });
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      renderPage(ctx, renderer, 'pages/message', { title: 'This link has expired', message: err.message }, 400);
    }
  });

  return router;
}
