import crypto from 'node:crypto';
import request from 'supertest';
import { client, discover } from './oauth.js';
import type { TestLatch } from './latch.js';

/**
 * A person on Latch's hosted pages without a browser: a cookie-keeping supertest agent that
 * follows Latch's redirects, posts forms with the page's CSRF token, and stops at the redirect
 * back to the app. Every step is a real HTTP request to a real Latch.
 */
export class HostedPages {
  readonly agent: ReturnType<typeof request.agent>;
  status = 0;
  text = '';
  path = '';
  /** the redirect to the app (redirect_uri?code=…), once the flow gets there */
  callback?: string;

  constructor(private readonly latch: TestLatch) {
    this.agent = request.agent(latch.url);
  }

  get csrf(): string {
    const token = /name="_csrf" value="([^"]+)"/.exec(this.text)?.[1];
    if (!token) throw new Error(`no CSRF token on ${this.path} (${this.status}): ${this.text.slice(0, 300)}`);
    return token;
  }

  /** The interaction uid of the current page. */
  get uid(): string {
    const uid = /\/interaction\/([\w-]+)/.exec(this.path)?.[1] ?? /\/interaction\/([\w-]+)\//.exec(this.text)?.[1];
    if (!uid) throw new Error(`not on an interaction page: ${this.path}`);
    return uid;
  }

  private async follow(res: request.Response) {
    this.callback = undefined;
    for (let hops = 0; hops < 15; hops += 1) {
      if (res.status !== 302 && res.status !== 303) break;
      const location = new URL(res.headers.location!, this.latch.url);
      if (location.origin !== new URL(this.latch.url).origin) {
        this.callback = location.href;
        break;
      }
      this.path = location.pathname + location.search;
      res = await this.agent.get(this.path);
    }
    this.status = res.status;
    this.text = res.text ?? '';
    if (res.status !== 302 && res.status !== 303) this.path = (res as unknown as { req: { path: string } }).req.path;
    return this;
  }

  async get(path: string) {
    this.path = path;
    return this.follow(await this.agent.get(path));
  }

  /** Posts exactly these fields (for oidc-provider's own forms, which carry `xsrf`). */
  async submitFields(path: string, fields: Record<string, string>) {
    this.path = path;
    return this.follow(await this.agent.post(path).type('form').send(fields));
  }

  /** Posts a form of the current page (with its CSRF token) and follows the answer. */
  async submit(path: string, fields: Record<string, string>) {
    this.path = path;
    return this.follow(await this.agent.post(path).type('form').send({ _csrf: this.csrf, ...fields }));
  }

  /** The value shown in `<code id="…">` (e.g. the TOTP secret on the enrolment page), spaces removed. */
  codeText(id: string): string {
    const value = new RegExp(`<code id="${id}"[^>]*>([^<]+)</code>`).exec(this.text)?.[1];
    if (!value) throw new Error(`no #${id} on ${this.path}`);
    return value.replace(/\s+/g, '');
  }
}

/** A public client of the test Latch, and a code flow it starts in a HostedPages browser. */
export async function testApp(latch: TestLatch) {
  const grantTypes = ['authorization_code', 'refresh_token'] as const;
  const redirectUri = 'https://app.example.com/cb';
  const { clientId } = await latch.container.clients.create({ name: 'MFA Test App', public: true, redirectUris: [redirectUri], grantTypes: [...grantTypes] });
  const config = await discover(latch.issuer, clientId);

  return {
    clientId,
    config,
    async start(pages: HostedPages, extra: Record<string, string> = {}) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        ...extra,
      });
      await pages.get(url.pathname + url.search);
      return {
        /** Redeems the code the flow ended with; returns the tokens and ID token claims. */
        async redeem(parameters: Record<string, string> = {}) {
          if (!pages.callback) throw new Error(`the flow did not return to the app; at ${pages.path} (${pages.status}): ${pages.text.slice(0, 300)}`);
          const tokens = await client.authorizationCodeGrant(config, new URL(pages.callback), { pkceCodeVerifier: verifier, expectedState: state }, parameters);
          return { tokens, claims: tokens.claims()! };
        },
      };
    },
  };
}

export async function createAccount(latch: TestLatch, email: string, password = 'correct horse battery staple') {
  // sign-ups are limited per IP; each test account comes from an address of its own
  await latch.container.accounts.signUp({ email, password }, { ip: `198.51.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}` });
  const account = (await latch.container.accounts.findByEmail(email))!;
  return { id: account.id, email, password };
}
