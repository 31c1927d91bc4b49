/**
 * A minimal cookie-keeping HTTP client over fetch, for the fuzzer: it walks the hosted pages
 * once to get a session and the forms' CSRF tokens, then sends raw hostile requests with the
 * same cookies (bytes and headers exactly as built, which supertest would not allow).
 */
export type RawResponse = { status: number; location: string | null; contentType: string; text: string };

export class BrowserSession {
  private readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async send(method: string, path: string, opts: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.cookies.size) headers.cookie = this.cookieHeader;
    const body = typeof opts.body === 'string' || opts.body === undefined ? opts.body : new Uint8Array(opts.body);
    const res = await fetch(`${this.base}${path}`, { method, headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, location: res.headers.get('location'), contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  /** GET that follows Latch's own redirects (not those to a client), like a browser. */
  async visit(path: string): Promise<RawResponse & { path: string }> {
    let res = await this.send('GET', path);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400 && res.location; hops++) {
      const next = new URL(res.location, this.base);
      if (next.origin !== new URL(this.base).origin) break;
      path = next.pathname + next.search;
      res = await this.send('GET', path);
    }
    return { ...res, path };
  }

  async postForm(path: string, fields: Record<string, string>): Promise<RawResponse> {
    return this.send('POST', path, { body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
}

export const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
export const xsrfIn = (html: string) => /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
export const uidIn = (html: string) => /\/interaction\/([\w-]+)\//.exec(html)?.[1] ?? '';
