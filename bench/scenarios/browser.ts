import crypto from 'node:crypto';
import { FORM } from './requests.js';

/**
 * A browser for the flow scenarios: fetch with redirects left to the caller, a cookie jar,
 * and the hosted forms filled the way a person would (sign-in, consent, device code). The
 * same walk drives Latch's pages and the ceiling's minimal ones: both post to
 * /interaction/<uid>/login and /interaction/<uid>/consent.
 */
export type Page = { status: number; location?: string; text: string };
export type Person = { email: string; password: string };

const MAX_HOPS = 16;

export class Browser {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly base: string) {}

  async request(method: 'GET' | 'POST', target: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Page> {
    const url = new URL(target, this.base);
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...(form ? { 'content-type': FORM } : {}), ...headers },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const line of res.headers.getSetCookie()) this.store(line);
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, location: location && new URL(location, url).toString(), text: await res.text() };
  }

  private store(line: string) {
    const [pair, ...attributes] = line.split(';');
    const eq = pair!.indexOf('=');
    if (eq < 1) return;
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    const expired = attributes.some((a) => {
      const [key, v] = a.trim().split('=');
      if (key?.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (key?.toLowerCase() === 'expires') return Date.parse(v ?? '') <= Date.now();
      return false;
    });
    if (expired || !value) this.cookies.delete(name);
    else this.cookies.set(name, value);
  }
}

const hiddenField = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

function problem(where: string, page: Page): Error {
  return new Error(`${where}: HTTP ${page.status}${page.location ? ` → ${page.location}` : ''} ${page.text.replace(/\s+/g, ' ').slice(0, 200)}`);
}

/**
 * Follows redirects and fills interaction forms until a redirect satisfies `stopAt` (returns
 * its URL) or a page that is not an interaction form arrives (returns undefined and the page).
 */
export async function walk(browser: Browser, first: Page, person: Person, stopAt: (location: string) => boolean): Promise<{ location?: string; page: Page }> {
  let page = first;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    if (page.status >= 300 && page.status < 400 && page.location) {
      if (stopAt(page.location)) return { location: page.location, page };
      page = await browser.request('GET', page.location);
      continue;
    }
    if (page.status !== 200) throw problem('unexpected page', page);
    const step = /\/interaction\/([\w-]+)\/(login|consent)"/.exec(page.text);
    if (!step) return { page };
    const [, uid, kind] = step;
    const csrf = hiddenField(page.text, '_csrf');
    page =
      kind === 'login'
        ? await browser.request('POST', `/interaction/${uid}/login`, { _csrf: csrf, email: person.email, password: person.password })
        : await browser.request('POST', `/interaction/${uid}/consent`, { _csrf: csrf, decision: 'allow' });
  }
  throw new Error('too many redirects');
}

export function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export type CodeFlowApp = { clientId: string; clientSecret: string; redirectUri: string };

/** /auth → sign-in (→ consent) → code at the redirect URI; returns the code and its verifier. */
export async function authorize(browser: Browser, app: CodeFlowApp, person: Person, params: { scope: string; resource?: string }) {
  const { verifier, challenge } = pkcePair();
  const query = new URLSearchParams({
    client_id: app.clientId,
    response_type: 'code',
    redirect_uri: app.redirectUri,
    scope: params.scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: crypto.randomBytes(8).toString('base64url'),
    ...(params.resource ? { resource: params.resource } : {}),
  });
  const start = await browser.request('GET', `/auth?${query}`);
  const { location, page } = await walk(browser, start, person, (l) => l.startsWith(app.redirectUri));
  if (!location) throw problem('the code flow ended on a page', page);
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`no code in ${location}`);
  return { code, verifier };
}

/** The device side of approving: /device → code → confirm → (interaction) → success page. */
export async function approveDeviceCode(browser: Browser, userCode: string, person: Person): Promise<void> {
  const entry = await browser.request('GET', '/device');
  if (entry.status !== 200) throw problem('device code entry', entry);
  const confirm = await browser.request('POST', '/device', { xsrf: hiddenField(entry.text, 'xsrf'), user_code: userCode });
  if (confirm.status !== 200 || !confirm.text.includes('name="confirm"')) throw problem('device confirmation', confirm);
  const approved = await browser.request('POST', '/device', { xsrf: hiddenField(confirm.text, 'xsrf'), user_code: userCode, confirm: 'yes' });
  const { page } = await walk(browser, approved, person, () => false);
  if (page.status !== 200 || /name="user_code"/.test(page.text)) throw problem('device approval did not succeed', page);
}
