/**
 * Answers for a refused request: RFC 6750 §3 `WWW-Authenticate: Bearer …` with RFC 9728's
 * `resource_metadata` so a client (an MCP client, for one) can discover the authorization
 * server from a bare 401.
 */
export type Refusal = {
  status: 400 | 401 | 403 | 503;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
};

const quote = (value: string) => `"${value.replace(/[\\"]/g, '\\$&').replace(/[\r\n]/g, ' ')}"`;

export function bearerChallenge(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${quote(v)}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

export function refuse(
  status: Refusal['status'],
  error: string | undefined,
  description: string,
  context: { resourceMetadata: string; scope?: string },
): Refusal {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (status !== 503) {
    // RFC 6750 §3.1: a request without credentials gets no error code
    headers['www-authenticate'] = bearerChallenge({
      error,
      error_description: error ? description : undefined,
      scope: context.scope,
      resource_metadata: context.resourceMetadata,
    });
  }
  return { status, headers, body: { error: error ?? 'unauthorized', error_description: description } };
}
