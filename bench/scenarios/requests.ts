import type { Credential } from '../seed/clients.js';
import type { RequestSpec } from './types.js';

/** Small builders shared by the scenarios. */
export const FORM = 'application/x-www-form-urlencoded';

export function basicAuth(credential: Credential): string {
  const encode = (value: string) => encodeURIComponent(value);
  return `Basic ${Buffer.from(`${encode(credential.clientId)}:${encode(credential.clientSecret)}`).toString('base64')}`;
}

export function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

export function postForm(path: string, authorization: string, params: Record<string, string>): RequestSpec {
  return { method: 'POST', path, headers: { authorization, 'content-type': FORM }, body: form(params) };
}

/** Cycles through the items, one per call. */
export function roundRobin<T>(items: T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length]!;
}

export function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A pre-flight problem from a non-2xx response: the server's own error text. */
export function statusProblem(status: number, body: string): string | undefined {
  if (status >= 200 && status < 300) return undefined;
  const json = parseJson(body);
  const detail = json ? [json.error, json.error_description].filter(Boolean).join(': ') : body.slice(0, 200);
  return `HTTP ${status}${detail ? ` (${detail})` : ''}`;
}
