import type Router from '@koa/router';
import type Koa from 'koa';
import type { Principal } from '../api/api-auth.js';
import type { ApiKeyService } from '../api-keys/api-keys.service.js';
import { LatchError } from '../http/errors.js';
import { field, renderPage } from '../interactions/page.js';
import type { OrgService } from '../orgs/orgs.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import type { Renderer } from '../views/renderer.js';
import { RECENT_SIGN_IN_SECONDS } from './account-security.routes.js';

/**
 * /account/api-keys: a person's API keys, and those of the organizations they administer,
 * over the same service as /api/v1/api-keys (the owner is the signed-in person or an
 * organization they are admin or owner of — never a form field they could change to anyone).
 * Making or rotating a key shows its secret once; like second factors, that needs a sign-in
 * within the last five minutes.
 *
 *   GET  /account/api-keys                        keys, and the form for a new one
 *   POST /account/api-keys                        create (owner "me" or an organization id)
 *   POST /account/api-keys/:keyId/revoke | /rotate    (org keys: ?org=<id>)
 */
const EXPIRY_CHOICES = ['7d', '30d', '90d', '180d', '366d'];
const GRACE_CHOICES = ['0', '1h', '1d', '7d'];

type Deps = {
  renderer: Renderer;
  apiKeys: ApiKeyService;
  orgs: OrgService;
  resources: ResourceService;
  signedIn: (ctx: Koa.Context, opts?: { maxAgeSeconds?: number }) => Promise<Principal | undefined>;
};

/** "project=42" lines (or comma-separated) into labels; the service validates keys and values. */
function parseLabels(text: string): Record<string, string> | string {
  const labels: Record<string, string> = {};
  for (const entry of text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean)) {
    const at = entry.indexOf('=');
    if (at < 1) return `Labels are key=value, one per line ("${entry.slice(0, 40)}" is not).`;
    const key = entry.slice(0, at).trim();
    if (Object.hasOwn(labels, key)) return `The label ${key.slice(0, 63)} is given twice.`;
    labels[key] = entry.slice(at + 1).trim();
  }
  return labels;
}

function formValues(body: unknown): string[] {
  const value = (body as Record<string, unknown> | undefined)?.scopes;
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is string => typeof v === 'string' && !v.includes('\u0000')).flatMap((v) => v.split(/\s+/)).filter(Boolean).slice(0, 100);
}

export function addApiKeyRoutes(router: Router, deps: Deps) {
  const { renderer, apiKeys, orgs, resources } = deps;

  async function administered(accountId: string) {
    return (await orgs.list(accountId)).filter((o) => o.role === 'owner' || o.role === 'admin');
  }

  async function show(ctx: Koa.Context, principal: Principal, extra: { error?: string; notice?: string; form?: Record<string, unknown> } = {}, status = 200) {
    const accountId = principal.accountId!;
    const adminOf = await administered(accountId);
    const owners = [
      { id: 'me', name: 'You', keys: await apiKeys.list(principal) },
      ...(await Promise.all(adminOf.map(async (o) => ({ id: o.id, name: o.name, keys: await apiKeys.list(principal, o.id) })))),
    ];
    const allResources = await resources.list();
    renderPage(ctx, renderer, 'pages/account-api-keys', {
      owners,
      resources: allResources.map((r) => ({ identifier: r.identifier, name: r.name, scopes: r.scopes })),
      scopes: [...new Set(allResources.flatMap((r) => r.scopes))],
      expiryChoices: EXPIRY_CHOICES,
      graceChoices: GRACE_CHOICES,
      form: extra.form ?? {},
      error: extra.error,
      notice: extra.notice,
    }, status);
  }

  function showSecret(ctx: Koa.Context, created: { key: string; name: string; prefix: string }, title: string) {
    renderPage(ctx, renderer, 'pages/account-api-key-created', { title, key: created.key, name: created.name, prefix: created.prefix });
  }

  /** Runs a change; a refused one re-renders the page with its message and the status. */
  async function change(ctx: Koa.Context, fresh: boolean, action: (p: Principal) => Promise<void>, form?: Record<string, unknown>) {
    const principal = await deps.signedIn(ctx, fresh ? { maxAgeSeconds: RECENT_SIGN_IN_SECONDS } : {});
    if (!principal) return;
    try {
      await action(principal);
    } catch (err) {
      if (!(err instanceof LatchError) || err.status >= 500) throw err;
      await show(ctx, principal, { error: err.message, form }, err.status);
    }
  }

  const orgOf = (ctx: Koa.Context) => {
    const owner = field(ctx.request.body, 'owner', 64) || (typeof ctx.query.org === 'string' ? ctx.query.org.slice(0, 64) : '');
    return owner && owner !== 'me' ? owner : undefined;
  };

  router.get('/api-keys', async (ctx) => {
    const principal = await deps.signedIn(ctx);
    if (principal) await show(ctx, principal);
  });

  router.post('/api-keys', async (ctx) => {
    const body = ctx.request.body;
    const form = { name: field(body, 'name', 1000), owner: field(body, 'owner', 64), resource: field(body, 'resource', 2048), labels: field(body, 'labels', 8000), expiresIn: field(body, 'expires_in', 16), scopes: formValues(body) };
    await change(ctx, true, async (principal) => {
      const labels = parseLabels(form.labels);
      if (typeof labels === 'string') throw new LatchError('invalid_input', labels, 400);
      if (!form.scopes.length) throw new LatchError('invalid_input', 'Choose at least one scope.', 400);
      const created = await apiKeys.create(principal, orgOf(ctx), {
        name: form.name,
        scopes: form.scopes,
        ...(form.resource ? { resource: form.resource } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
        ...(form.expiresIn ? { expiresIn: form.expiresIn } : {}),
      });
      showSecret(ctx, created, 'Your new API key');
    }, form);
  });

  router.post('/api-keys/:keyId/rotate', (ctx) =>
    change(ctx, true, async (principal) => {
      const grace = field(ctx.request.body, 'grace', 16) || '1h';
      const rotated = await apiKeys.rotate(principal, orgOf(ctx), ctx.params.keyId, { gracePeriod: grace === '0' ? 0 : grace });
      showSecret(ctx, rotated, 'The new secret of your API key');
    }),
  );

  router.post('/api-keys/:keyId/revoke', (ctx) =>
    change(ctx, false, async (principal) => {
      const revoked = await apiKeys.revoke(principal, orgOf(ctx), ctx.params.keyId);
      await show(ctx, principal, { notice: `The key ${revoked.name} (${revoked.prefix}) was revoked.` });
    }),
  );
}
