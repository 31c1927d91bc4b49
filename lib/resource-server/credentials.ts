/**
 * Where a caller's credential is: `Authorization: Bearer …` (RFC 6750 §2.1, the only method
 * for JWTs; tokens in query strings or bodies are not accepted), or for Latch API keys also
 * `Authorization: ApiKey …` and `X-API-Key`.
 */
export type HeaderBag = Record<string, string | string[] | undefined>;

export type Credential = { kind: 'none' } | { kind: 'bearer' | 'api-key'; value: string } | { kind: 'malformed'; reason: string };

/** Latch's API keys: `latch_<public id>_<secret>` */
export const API_KEY_PATTERN = /^latch_[A-Za-z0-9]+_[A-Za-z0-9_-]+$/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_CREDENTIAL_LENGTH = 8192;

function single(headers: HeaderBag, name: string): string | undefined | null {
  const value = headers[name] ?? headers[name.toLowerCase()];
  if (Array.isArray(value)) return value.length === 1 ? value[0] : null;
  return value;
}

export function readCredential(headers: HeaderBag): Credential {
  const authorization = single(headers, 'authorization');
  const apiKeyHeader = single(headers, 'x-api-key');
  if (authorization === null || apiKeyHeader === null) return { kind: 'malformed', reason: 'repeated credential header' };
  if (authorization !== undefined && apiKeyHeader !== undefined) return { kind: 'malformed', reason: 'more than one credential' };

  if (apiKeyHeader !== undefined) {
    const value = apiKeyHeader.trim();
    if (!API_KEY_PATTERN.test(value) || value.length > MAX_CREDENTIAL_LENGTH) return { kind: 'malformed', reason: 'malformed API key' };
    return { kind: 'api-key', value };
  }
  if (authorization === undefined || authorization === '') return { kind: 'none' };

  const match = /^(\S+) +(\S+)$/.exec(authorization.trim());
  if (!match) return { kind: 'malformed', reason: 'malformed Authorization header' };
  const scheme = match[1]!.toLowerCase();
  const value = match[2]!;
  if (value.length > MAX_CREDENTIAL_LENGTH || !TOKEN68.test(value)) return { kind: 'malformed', reason: 'malformed credential' };
  if (scheme === 'apikey') {
    return API_KEY_PATTERN.test(value) ? { kind: 'api-key', value } : { kind: 'malformed', reason: 'malformed API key' };
  }
  if (scheme !== 'bearer') return { kind: 'malformed', reason: `unsupported authorization scheme` };
  return API_KEY_PATTERN.test(value) ? { kind: 'api-key', value } : { kind: 'bearer', value };
}
