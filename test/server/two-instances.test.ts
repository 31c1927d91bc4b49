import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { repoRoot } from '../support/cli.js';
import { usingPostgres } from '../support/database.js';
import { csrfFrom, interactionForm, pkcePair, signUpAccount, xsrfFrom, PASSWORD, type Agent } from '../support/flow.js';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { client, discover } from '../support/oauth.js';

/**
 * SECURITY.md G.42 — two Latch processes on one PostgreSQL behind one issuer, as behind a load
 * balancer: every step of a code flow and of a device flow lands on the other process than the
 * step before, and the flows complete. (The embedded database is single-process: skipped there.)
 */
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

type Instance = { name: string; url: string };

const pathOf = (location: string) => {
  const url = new URL(location, 'http://localhost');
  return url.pathname + url.search;
};

/** A second Latch, in a process of its own (`npm start`), sharing the first one's database and issuer. */
async function startLatchProcess(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'lib/main.ts')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the second Latch exited: ${stderr}`);
    const ready = await request(url).get('/readyz').then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`the second Latch did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * One browser whose requests a load balancer hands out in turn: each request goes to the next
 * instance. One cookie jar, as a browser has one for the issuer's host.
 */
class AlternatingBrowser {
  readonly served: Array<{ instance: string; method: string; path: string; status: number }> = [];
  private readonly agents: Array<{ name: string; agent: Agent }>;
  private turn = 0;
  private readonly origins: Set<string>;
  private readonly origin: string;

  constructor(instances: Instance[]) {
    this.origins = new Set(instances.map((i) => new URL(i.url).origin));
    this.origin = instances[0]!.url;
    this.agents = instances.map((i) => ({ name: i.name, agent: request.agent(i.url) }));
    const jar = (this.agents[0]!.agent as unknown as { jar: unknown }).jar;
    for (const a of this.agents.slice(1)) (a.agent as unknown as { jar: unknown }).jar = jar;
  }

  private next() {
    return this.agents[this.turn++ % this.agents.length]!;
  }

  async get(p: string) {
    const { name, agent } = this.next();
    const res = await agent.get(p);
    this.served.push({ instance: name, method: 'GET', path: p, status: res.status });
    return res;
  }

  async post(p: string, form: Record<string, string>) {
    const { name, agent } = this.next();
    const res = await agent.post(p).type('form').send(form);
    this.served.push({ instance: name, method: 'POST', path: p, status: res.status });
    return res;
  }

  /** Follows Latch's redirects, signing in and allowing consent on the way, until the browser leaves Latch or lands on another page. */
  async follow(res: request.Response, email: string) {
    for (let hop = 0; hop < 15; hop++) {
      if (res.status === 303 || res.status === 302) {
        // oidc-provider builds some redirects from the request's own host: behind a real load
        // balancer that is the one public host; here each instance has its own port
        const p = this.origins.has(new URL(res.headers.location!, this.origin).origin) ? pathOf(res.headers.location!) : undefined;
        if (!p) return { location: new URL(res.headers.location!), res };
        res = await this.get(p);
        continue;
      }
      const form = res.status === 200 ? interactionForm(res.text) : undefined;
      if (!form) return { res };
      res =
        form.step === 'login'
          ? await this.post(`/interaction/${form.uid}/login`, { email, password: PASSWORD, _csrf: csrfFrom(res.text) })
          : await this.post(`/interaction/${form.uid}/consent`, { decision: 'allow', _csrf: csrfFrom(res.text) });
    }
    throw new Error('too many redirects');
  }

  instancesOf(match: (s: { method: string; path: string }) => boolean) {
    return new Set(this.served.filter(match).map((s) => s.instance));
  }
}

describe('two Latch processes on one PostgreSQL', function () {
  this.timeout(180_000);
  let a: TestLatch;
  let b: Awaited<ReturnType<typeof startLatchProcess>>;
  let instances: Instance[];
  const email = 'both@example.com';

  before(async function () {
    if (!usingPostgres()) {
      console.log('      (skipped: the embedded database serves a single process; set DATABASE_URL to run this)');
      return this.skip();
    }
    a = await startLatch();
    b = await startLatchProcess({ ...a.env, ISSUER: a.issuer });
    instances = [
      { name: 'A', url: a.url },
      { name: 'B', url: b.url },
    ];
    await signUpAccount(a, email);
  });
  after(async () => {
    await b?.stop();
    await a?.close();
  });

  it('a code flow whose authorization, sign-in, consent and token requests alternate between them', async () => {
    const redirectUri = 'https://app.example.com/cb';
    const { clientId } = await a.container.clients.create({ name: 'Shared App', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] });
    const { verifier, challenge } = pkcePair();
    const browser = new AlternatingBrowser(instances);
    const query = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid email offline_access', prompt: 'consent', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' });
    const { location } = await browser.follow(await browser.get(`/auth?${query}`), email);
    expect(location?.searchParams.get('code'), JSON.stringify(browser.served)).to.be.a('string');

    const isLogin = (s: { method: string; path: string }) => s.method === 'POST' && s.path.endsWith('/login');
    const isConsent = (s: { method: string; path: string }) => s.method === 'POST' && s.path.endsWith('/consent');
    const isAuth = (s: { method: string; path: string }) => s.path.startsWith('/auth');
    expect(browser.instancesOf(isAuth)).to.have.keys('A', 'B');
    expect([...browser.instancesOf(isLogin), ...browser.instancesOf(isConsent)]).to.have.members(['A', 'B']);

    // the token request goes to the instance that did not hand out the code: openid-client,
    // discovering the shared issuer, with its requests sent to instance B
    const last = browser.served.at(-1)!.instance;
    const tokenInstance = instances.find((i) => i.name !== last)!;
    const config = await discover(a.issuer, clientId);
    config[client.customFetch] = (url, options) => fetch(url.replace(a.url, tokenInstance.url), options as RequestInit);
    const tokens = await client.authorizationCodeGrant(config, location!, { pkceCodeVerifier: verifier, expectedState: 'st' });
    expect(tokens.claims()!.email).to.equal(email);

    // the ID token verifies against either instance's JWKS; the refresh token works on the other
    for (const i of instances) await jose.jwtVerify(tokens.id_token!, jose.createLocalJWKSet((await request(i.url).get('/jwks').expect(200)).body), { issuer: a.issuer, audience: clientId });
    const other = instances.find((i) => i !== tokenInstance)!;
    const refreshed = await request(other.url).post('/token').type('form').send({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token });
    expect(refreshed.status, refreshed.text).to.equal(200);
    const userinfo = await request(tokenInstance.url).get('/me').set('Authorization', `Bearer ${refreshed.body.access_token}`);
    expect(userinfo.status, userinfo.text).to.equal(200);
    expect(userinfo.body.email).to.equal(email);
  });

  it('a device flow: authorized on one, the code entered and approved across both, polled on both', async () => {
    const { clientId } = await a.container.clients.create({ name: 'Shared TV', public: true, grantTypes: [DEVICE_GRANT, 'refresh_token'] });
    const poll = (i: Instance) => request(i.url).post('/token').type('form').send({ grant_type: DEVICE_GRANT, device_code: device.device_code, client_id: clientId });

    const started = await request(a.url).post('/device/auth').type('form').send({ client_id: clientId, scope: 'openid email' });
    expect(started.status, started.text).to.equal(200);
    const device = started.body as { device_code: string; user_code: string };
    expect((await poll(instances[1]!)).body.error).to.equal('authorization_pending');

    const browser = new AlternatingBrowser([...instances].reverse());
    const page = await browser.get('/device');
    expect(page.status).to.equal(200);
    const entered = await browser.post('/device', { xsrf: xsrfFrom(page.text), user_code: device.user_code, confirm: 'yes' });
    const { res: done } = await browser.follow(entered, email);
    expect(done.status, JSON.stringify(browser.served)).to.equal(200);
    expect(done.text).to.include('Device connected');
    expect(browser.instancesOf((s) => s.method === 'POST')).to.have.keys('A', 'B');

    const tokens = await poll(instances[0]!);
    expect(tokens.status, tokens.text).to.equal(200);
    expect(jose.decodeJwt(tokens.body.id_token).email).to.equal(email);
    // and the device code is spent for the other one too
    expect((await poll(instances[1]!)).body.error).to.equal('invalid_grant');
  });
});
