import { errors } from 'oidc-provider';
import { hasSubjectIdForm } from '../accounts/account-ids.js';

/**
 * Latch's rules for client metadata, on top of oidc-provider's own validation
 * (SECURITY.md A.11, C.20 and C.21). Runs for every client, registered or admin-created.
 */
export const POLICY_TRIGGER_PROPERTY = 'software_id';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:', 'ftp:', 'ws:', 'wss:']);
const LINK_PROPERTIES = ['logo_uri', 'tos_uri', 'policy_uri', 'client_uri'] as const;

function checkRedirectUri(value: unknown, label: string, applicationType: string): URL {
  if (typeof value !== 'string' || value.length > 2048) {
    throw new errors.InvalidClientMetadata(`${label} must be strings of at most 2048 characters`);
  }
  if (value.includes('*')) throw new errors.InvalidClientMetadata(`${label} must not contain wildcards`);
  const url = URL.parse(value);
  if (!url) throw new errors.InvalidClientMetadata(`${label} must only contain valid URIs`);
  if (value.includes('#')) throw new errors.InvalidClientMetadata(`${label} must not contain fragments`);
  if (url.username || url.password) throw new errors.InvalidClientMetadata(`${label} must not contain user information`);
  if (FORBIDDEN_SCHEMES.has(url.protocol)) {
    throw new errors.InvalidClientMetadata(`${label} must not use the ${url.protocol.slice(0, -1)} scheme`);
  }
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new errors.InvalidClientMetadata(`${label} must use https, except on a loopback address`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && applicationType !== 'native') {
    throw new errors.InvalidClientMetadata(`${label} with a custom scheme are only allowed for native clients`);
  }
  return url;
}

export function enforceClientPolicy(metadata: Record<string, unknown>, staticScopes: readonly string[] = []): void {
  // A client's own tokens carry its client_id as `sub`; in the form of an account id it could
  // be taken for a person (lib/accounts/account-ids.ts). Checked whenever a client is loaded
  // too, so a row written past the services (an import, a hand edit) cannot be used either.
  if (typeof metadata.client_id === 'string' && hasSubjectIdForm(metadata.client_id)) {
    throw new errors.InvalidClientMetadata('client_id must not have the form of an account id (a UUID)');
  }
  // `scope` limits only the OpenID scopes a client may ask for (resource scopes are the
  // resource's business). MCP clients register with their resource's scopes ("mcp:tools"),
  // which oidc-provider would refuse as unknown; they are dropped instead, as RFC 7591 §3.2.1
  // lets a server do.
  if (typeof metadata.scope === 'string' && staticScopes.length) {
    const kept = metadata.scope.split(' ').filter((s) => staticScopes.includes(s));
    if (kept.length) metadata.scope = kept.join(' ');
    else delete metadata.scope;
  }
  const applicationType = typeof metadata.application_type === 'string' ? metadata.application_type : 'web';
  const redirects = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris : [];
  const redirectUrls = redirects.map((uri) => checkRedirectUri(uri, 'redirect_uris', applicationType));
  if (Array.isArray(metadata.post_logout_redirect_uris)) {
    metadata.post_logout_redirect_uris.forEach((uri) => checkRedirectUri(uri, 'post_logout_redirect_uris', applicationType));
  }

  // Links shown on the consent page must point where the client's redirects point, or go.
  const trusted = new Set(redirectUrls.filter((u) => u.protocol === 'https:' || u.protocol === 'http:').map((u) => u.origin));
  for (const property of LINK_PROPERTIES) {
    const value = metadata[property];
    if (value === undefined) continue;
    const url = typeof value === 'string' ? URL.parse(value) : null;
    if (!url || !trusted.has(url.origin)) delete metadata[property];
  }

  if (typeof metadata.client_name === 'string' && metadata.client_name.length > 200) {
    throw new errors.InvalidClientMetadata('client_name must be at most 200 characters');
  }
}
