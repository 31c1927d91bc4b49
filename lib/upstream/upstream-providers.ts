import * as client from 'openid-client';
import { BUILT_IN_UPSTREAMS, UPSTREAM_ID, type UpstreamProviderConfig } from '../config/config.js';
import type { Sealer } from '../crypto/seal.js';
import type { SafeFetch } from '../http/safe-fetch.js';
import { invalidInput, conflict, notFound } from '../http/errors.js';
import type { UpstreamQueries, UpstreamProviderRow } from './upstream.queries.js';

/**
 * The identity providers people may sign in through: those configured in the environment
 * (GitHub, Google, Microsoft, LATCH_UPSTREAM_<ID>_…) and those an admin added with
 * `latch upstream add` (stored, the secret sealed). Each one's openid-client Configuration is
 * built on first use — discovery from the issuer for OpenID providers — and kept for a while.
 */
export type UpstreamProvider = UpstreamProviderConfig & { source: 'configuration' | 'database' };

/** A discovered provider is trusted for this long before discovery runs again. */
const DISCOVERY_CACHE_MS = 10 * 60 * 1000;
const BUTTONS_REFRESH_MS = 30 * 1000;
const SECRET_CONTEXT = (id: string) => `upstream:${id}`;

/** GitHub's REST API: api.github.com for github.com, <base>/api/v3 for GitHub Enterprise Server. */
export const githubApiBase = (baseUrl: string) => (new URL(baseUrl).host === 'github.com' ? 'https://api.github.com' : `${baseUrl}/api/v3`);

export type UpstreamRegistry = ReturnType<typeof createUpstreamRegistry>;

export function createUpstreamRegistry(deps: { configured: UpstreamProviderConfig[]; queries: UpstreamQueries; sealer: Sealer; safeFetch: SafeFetch; privateHosts: string[] }) {
  const { queries, sealer, safeFetch } = deps;
  const privateHosts = new Set(deps.privateHosts);
  const configured = new Map(deps.configured.map((p) => [p.id, { ...p, source: 'configuration' as const }]));
  const cache = new Map<string, { config: client.Configuration; at: number; fingerprint: string }>();

  function fromRow(row: UpstreamProviderRow): UpstreamProvider {
    return { id: row.id, kind: 'oidc', name: row.name, issuer: row.issuer, clientId: row.client_id, clientSecret: sealer.open(row.client_secret_sealed, SECRET_CONTEXT(row.id)), scope: row.scope, source: 'database' };
  }

  async function list(): Promise<UpstreamProvider[]> {
    const stored = (await queries.listProviders()).filter((row) => !configured.has(row.id)).map(fromRow);
    return [...configured.values(), ...stored];
  }

  /**
   * What the sign-in pages show, without a query per page: refreshed in the background when
   * older than half a minute, and at once when this process adds or removes a provider.
   */
  let snapshot = { at: 0, providers: [] as Array<{ id: string; name: string }> };
  async function refresh() {
    snapshot = { at: Date.now(), providers: (await list()).map((p) => ({ id: p.id, name: p.name })) };
  }
  function buttons() {
    if (Date.now() - snapshot.at > BUTTONS_REFRESH_MS) {
      snapshot.at = Date.now();
      refresh().catch(() => undefined);
    }
    return snapshot.providers;
  }

  async function get(id: string): Promise<UpstreamProvider | undefined> {
    if (!UPSTREAM_ID.test(id)) return undefined;
    const fromConfig = configured.get(id);
    if (fromConfig) return fromConfig;
    const row = await queries.findProvider(id);
    return row && fromRow(row);
  }

  /** http and private addresses only for the hosts the operator listed (LATCH_UPSTREAM_PRIVATE_HOSTS). */
  const executeFor = (url: string) => (privateHosts.has(new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase()) ? [client.allowInsecureRequests] : []);

  async function build(provider: UpstreamProvider): Promise<client.Configuration> {
    if (provider.kind === 'github') {
      const config = new client.Configuration(
        { issuer: provider.baseUrl, authorization_endpoint: `${provider.baseUrl}/login/oauth/authorize`, token_endpoint: `${provider.baseUrl}/login/oauth/access_token` },
        provider.clientId,
        undefined,
        client.ClientSecretPost(provider.clientSecret),
      );
      config[client.customFetch] = safeFetch as client.CustomFetch;
      for (const allow of executeFor(provider.baseUrl)) allow(config);
      return config;
    }
    const execute = executeFor(provider.issuer);
    let config = await client.discovery(new URL(provider.issuer), provider.clientId, { client_secret: provider.clientSecret }, client.ClientSecretPost(provider.clientSecret), {
      [client.customFetch]: safeFetch as client.CustomFetch,
      execute,
      timeout: 10,
    });
    const methods = config.serverMetadata().token_endpoint_auth_methods_supported;
    if (methods && !methods.includes('client_secret_post') && methods.includes('client_secret_basic')) {
      config = new client.Configuration(config.serverMetadata(), provider.clientId, undefined, client.ClientSecretBasic(provider.clientSecret));
      config[client.customFetch] = safeFetch as client.CustomFetch;
      for (const allow of execute) allow(config);
    }
    // verify the ID token's signature against the provider's JWKS too, not only the TLS channel
    client.enableNonRepudiationChecks(config);
    return config;
  }

  /** The provider's openid-client Configuration; throws when its issuer cannot be discovered. */
  async function configuration(provider: UpstreamProvider): Promise<client.Configuration> {
    const fingerprint = JSON.stringify([provider.kind, 'issuer' in provider ? provider.issuer : provider.baseUrl, provider.clientId, provider.clientSecret]);
    const cached = cache.get(provider.id);
    if (cached && cached.fingerprint === fingerprint && Date.now() - cached.at < DISCOVERY_CACHE_MS) return cached.config;
    const config = await build(provider);
    cache.set(provider.id, { config, at: Date.now(), fingerprint });
    return config;
  }

  return {
    list,
    get,
    refresh,
    buttons,

    configuration,

    admin: {
      async add(input: { id?: unknown; name?: unknown; issuer?: unknown; clientId?: unknown; clientSecret?: unknown; scope?: unknown }) {
        const id = typeof input.id === 'string' ? input.id.trim().toLowerCase() : '';
        if (!UPSTREAM_ID.test(id)) throw invalidInput('id must be 1 to 32 characters of a-z, 0-9 and -, starting with a letter or digit');
        if (BUILT_IN_UPSTREAMS.includes(id)) throw invalidInput(`${id} is configured with ${id.toUpperCase()}_CLIENT_ID and ${id.toUpperCase()}_CLIENT_SECRET, not added`);
        if (configured.has(id) || (await queries.findProvider(id))) throw conflict(`a provider with the id ${id} exists already`);
        const issuer = typeof input.issuer === 'string' ? input.issuer.trim() : '';
        const url = URL.canParse(issuer) ? new URL(issuer) : undefined;
        if (!url || !['https:', 'http:'].includes(url.protocol) || url.search || url.hash || url.username || url.password) throw invalidInput('issuer must be an https URL with no query, fragment or credentials');
        if (url.protocol === 'http:' && !privateHosts.has(url.hostname.toLowerCase())) throw invalidInput('issuer must be https (http only for a host listed in LATCH_UPSTREAM_PRIVATE_HOSTS)');
        const clientId = typeof input.clientId === 'string' ? input.clientId.trim() : '';
        const clientSecret = typeof input.clientSecret === 'string' ? input.clientSecret : '';
        if (!clientId || clientId.length > 500 || /[\u0000-\u001f]/.test(clientId)) throw invalidInput('client id is required (at most 500 printable characters)');
        if (!clientSecret || clientSecret.length > 2000 || /[\u0000-\u001f]/.test(clientSecret)) throw invalidInput('client secret is required (at most 2000 printable characters)');
        const name = typeof input.name === 'string' && input.name.trim() ? input.name.trim().slice(0, 60) : id;
        if (/[\u0000-\u001f]/.test(name)) throw invalidInput('name must be printable');
        const scope = typeof input.scope === 'string' && input.scope.trim() ? input.scope.trim() : 'openid email profile';
        if (!scope.split(/\s+/).includes('openid') || scope.length > 500 || !/^[\x21-\x7e ]+$/.test(scope)) throw invalidInput('scope must include openid');
        await queries.insertProvider({ id, name, issuer, client_id: clientId, client_secret_sealed: sealer.seal(clientSecret, SECRET_CONTEXT(id)), scope });
        await refresh();
        return describe((await get(id))!);
      },
      async list() {
        return (await list()).map(describe);
      },
      /** For `latch doctor`: whether each provider's discovery (or GitHub's setup) works from here. */
      async check() {
        const results: Array<{ id: string; ok: boolean; detail: string }> = [];
        for (const provider of await list()) {
          try {
            await configuration(provider);
            results.push({ id: provider.id, ok: true, detail: 'ok' });
          } catch (err) {
            results.push({ id: provider.id, ok: false, detail: String((err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message).slice(0, 200) });
          }
        }
        return results;
      },
      async remove(id: unknown) {
        const providerId = typeof id === 'string' ? id : '';
        if (configured.has(providerId)) throw invalidInput(`${providerId} comes from the environment; unset its variables to remove it`);
        if (!(await queries.deleteProvider(providerId))) throw notFound('upstream provider');
        cache.delete(providerId);
        await refresh();
        return { removed: providerId };
      },
    },
  };
}

/** A provider as admins and the API see it: never its secret. */
export function describe(p: UpstreamProvider) {
  return { id: p.id, name: p.name, type: p.kind, issuer: p.kind === 'github' ? p.baseUrl : p.issuer, clientId: p.clientId, source: p.source };
}
