import { githubApiBase } from './upstream-providers.js';
import type { UpstreamProfile } from './upstream.queries.js';

/**
 * GitHub signs people in with plain OAuth 2 (no ID token), so who they are comes from its REST
 * API: `/user` for the stable numeric id and name, `/user/emails` for the primary address and
 * whether GitHub verified it. Works for GitHub Enterprise Server through its base URL.
 */
type Fetch = (url: string, init: { headers: Record<string, string> }) => Promise<Response>;

export async function fetchGithubProfile(baseUrl: string, accessToken: string, fetch: (...args: never[]) => Promise<Response>): Promise<UpstreamProfile> {
  const api = githubApiBase(baseUrl);
  const get = async (path: string) => {
    const res = await (fetch as unknown as Fetch)(`${api}${path}`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'Latch' },
    });
    if (res.status !== 200) throw new Error(`GitHub ${path} answered ${res.status}`);
    return res.json() as Promise<unknown>;
  };
  const user = (await get('/user')) as { id?: unknown; name?: unknown; login?: unknown };
  if (typeof user?.id !== 'number' && typeof user?.id !== 'string') throw new Error('GitHub /user has no id');
  const emails = await get('/user/emails');
  // only the primary address, and only when GitHub verified it
  const primary = Array.isArray(emails)
    ? (emails as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>).find((e) => e?.primary === true && e.verified === true && typeof e.email === 'string')
    : undefined;
  return {
    subject: String(user.id),
    email: primary ? (primary.email as string) : null,
    emailVerified: !!primary,
    name: typeof user.name === 'string' && user.name ? user.name : typeof user.login === 'string' ? user.login : null,
  };
}
