import tls from 'node:tls';
import type { Configuration } from 'oidc-provider';
// oidc-provider's own SSRF guard (special-use addresses refused at connect time, after DNS),
// reused so the only difference under test is the extra trusted CA and named loopback hosts.
import { applySSRFProtection } from 'oidc-provider/lib/helpers/fetch_request.js';

/**
 * Client ID Metadata Documents (an https URL as client_id) through oidc-provider's
 * `clientIdMetadataDocument` feature. oidc-provider itself only fetches https URLs without
 * credentials, fragments or dot segments, never follows a redirect, refuses special-use
 * addresses (loopback, private, link-local, IPv4-mapped …) once DNS has answered, gives up
 * after 2.5 s, checks that the document's client_id is its own URL, forbids shared secrets
 * and caches documents by Cache-Control max-age / Expires within the bounds below. Latch adds
 * the admin's host lists and a size cap for every outbound fetch (SECURITY.md item 22).
 */

/** draft-ietf-oauth-client-id-metadata-document, as implemented by oidc-provider 9.x */
export const CIMD_DRAFT = 'draft-02';

/** Cache bounds in seconds: at least 5 minutes (no refetch storm), at most a day. */
export const CIMD_CACHE_SECONDS = { min: 5 * 60, max: 24 * 60 * 60 };

/** Response body caps for every server-side fetch oidc-provider makes. */
export const FETCH_BODY_LIMITS = {
  'client_id metadata document': 5 * 1024,
  jwks_uri: 64 * 1024,
  sector_identifier_uri: 16 * 1024,
};

export type CimdPolicy = {
  enabled: boolean;
  /** when non-empty, only these hosts (`*.example.com` matches any subdomain) */
  allowedHosts: string[];
  /** never these hosts; wins over the allow list */
  deniedHosts: string[];
};

function hostMatches(host: string, pattern: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) return host.endsWith(p.slice(1)) && host.length > p.length - 1;
  return host === p;
}

/** Whether the admin's lists let Latch fetch this client_id URL. */
export function hostAllowed(policy: CimdPolicy, clientId: string): boolean {
  const url = URL.parse(clientId);
  if (!url) return false;
  const host = url.hostname.toLowerCase();
  if (policy.deniedHosts.some((p) => hostMatches(host, p))) return false;
  return !policy.allowedHosts.length || policy.allowedHosts.some((p) => hostMatches(host, p));
}

/** The host a metadata-document client is known by (shown on the consent page). */
export function metadataDocumentHost(clientId: string): string | undefined {
  return URL.parse(clientId)?.host;
}

export function clientIdMetadataDocumentFeature(policy: CimdPolicy) {
  return {
    enabled: policy.enabled,
    ack: CIMD_DRAFT,
    async allowFetch(_ctx: unknown, clientId: string) {
      return hostAllowed(policy, clientId);
    },
    cacheDuration: CIMD_CACHE_SECONDS,
  };
}

/**
 * Test-only trust for outbound fetches: an extra CA and hosts that may resolve to loopback.
 * Set only by code (test/support/latch.ts), never from the environment, so no deployment can
 * switch it on. Hosts not named keep oidc-provider's SSRF guard.
 */
export type OutboundTrust = { extraCaPem?: string; loopbackHosts: string[] };

type AgentClass = new (options?: object) => { on(event: string, listener: (...args: unknown[]) => void): unknown };

function undiciAgent(): AgentClass {
  // Node's fetch is undici; its Agent is reachable through the global dispatcher once fetch
  // has loaded (touching Response loads it), as oidc-provider does for its own guard.
  void Response;
  const g = globalThis as Record<symbol, { constructor: AgentClass } | undefined>;
  const dispatcher = g[Symbol.for('undici.globalDispatcher.2')] ?? g[Symbol.for('undici.globalDispatcher.1')];
  if (!dispatcher) throw new Error('cannot reach undici Agent for test-only outbound trust');
  return dispatcher.constructor;
}

export function createOutboundFetch(trust: OutboundTrust | undefined): Configuration['fetch'] | undefined {
  if (!trust || (!trust.extraCaPem && !trust.loopbackHosts.length)) return undefined;
  const Agent = undiciAgent();
  const connect = trust.extraCaPem ? { ca: [...tls.rootCertificates, trust.extraCaPem] } : {};
  const guarded = applySSRFProtection(new Agent({ connect }));
  const unguarded = new Agent({ connect });
  const loopback = new Set(trust.loopbackHosts.map((h) => h.toLowerCase()));
  return (url: string | URL | Request, options?: RequestInit) => {
    const host = new URL(url instanceof Request ? url.url : url).hostname.toLowerCase();
    return fetch(url, { ...options, dispatcher: loopback.has(host) ? unguarded : guarded } as RequestInit);
  };
}
