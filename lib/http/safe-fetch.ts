import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * fetch() for URLs that come from configuration or from other servers (upstream discovery,
 * JWKS, token and profile endpoints) — SECURITY.md C.22, no SSRF:
 * - the host must not resolve to a loopback, private, link-local, shared, reserved, multicast
 *   or IPv4-mapped/-compatible address; the check runs inside the connection's own DNS lookup,
 *   so the address checked is the address connected to (no DNS-rebinding window);
 * - https only; plain http only for a host the operator listed as private on purpose;
 * - no redirects are followed; the whole exchange is capped in time and in size.
 * Hosts in `privateHosts` (e.g. an internal Keycloak) may resolve to private addresses.
 */
export const SAFE_FETCH_TIMEOUT_MS = 10_000;
export const SAFE_FETCH_MAX_BYTES = 1024 * 1024;

export class BlockedFetch extends Error {
  override name = 'BlockedFetch';
}

// two lists: node matches IPv4 addresses against IPv6 rules as IPv4-mapped, which the
// ::ffff:0:0/96 rule would turn into "every IPv4 address"
const blockedV4 = new net.BlockList();
const blockedV6 = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blockedV4.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 96], // unspecified, loopback and IPv4-compatible
  ['::ffff:0:0', 96], // IPv4-mapped: a way to spell 127.0.0.1 and friends in IPv6
  ['64:ff9b::', 96], ['64:ff9b:1::', 48], // NAT64 reaches IPv4 space behind it
  ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16], // discard, IETF, docs, 6to4
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) blockedV6.addSubnet(prefix, bits, 'ipv6');

export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blockedV4.check(address, 'ipv4');
  if (family === 6) return blockedV6.check(address, 'ipv6');
  return true;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const usable = allowPrivate ? addresses : addresses.filter((a) => !isBlockedAddress(a.address));
      if (!usable.length) return callback(new BlockedFetch(`${hostname} resolves to an address Latch does not connect to`), []);
      if (options.all) return callback(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}

export type SafeFetch = (url: string | URL, init?: { method?: string; headers?: unknown; body?: unknown; signal?: AbortSignal | null }) => Promise<Response>;

export function createSafeFetch(options: { privateHosts?: string[]; timeoutMs?: number; maxBytes?: number } = {}): SafeFetch {
  const privateHosts = new Set((options.privateHosts ?? []).map((h) => h.toLowerCase()));
  const timeoutMs = options.timeoutMs ?? SAFE_FETCH_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? SAFE_FETCH_MAX_BYTES;

  return async (input, init = {}) => {
    const url = new URL(String(input));
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const allowPrivate = privateHosts.has(host);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivate)) throw new BlockedFetch(`${url.protocol} is not allowed for ${host}; use https`);
    if (url.username || url.password) throw new BlockedFetch('URLs with credentials are not fetched');
    if (net.isIP(host) && !allowPrivate && isBlockedAddress(host)) throw new BlockedFetch(`${host} is an address Latch does not connect to`);

    const headers: Record<string, string> = {};
    new Headers(init.headers as HeadersInit | undefined).forEach((value, key) => (headers[key] = value));
    const body = init.body === undefined || init.body === null ? undefined : Buffer.from(String(init.body));
    if (body) headers['content-length'] = String(body.length);

    return new Promise<Response>((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method: init.method ?? 'GET', headers, lookup: guardedLookup(allowPrivate) as never, signal: init.signal ?? undefined });
      const timer = setTimeout(() => req.destroy(new BlockedFetch(`${host} did not answer within ${timeoutMs} ms`)), timeoutMs);
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy(new BlockedFetch(`the answer from ${host} is larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.once('end', () => {
          clearTimeout(timer);
          const responseHeaders = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (value !== undefined) for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v);
          }
          const status = res.statusCode ?? 502;
          const nullBody = status === 204 || status === 304 || (status >= 100 && status < 200);
          resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
        });
        res.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      req.end(body);
    });
  };
}
