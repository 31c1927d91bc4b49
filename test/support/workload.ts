import crypto from 'node:crypto';
import request from 'supertest';
import type { TestLatch } from './latch.js';
import { authorize, createPerson, redeem, type Person } from './people.js';

/**
 * A mixed load of real flows for the reliability drills and `npm run soak`: browser sign-ins
 * through the hosted pages, refresh-token rotation, client credentials, introspection and
 * device polling. Every outcome is recorded; tokens handed out are remembered so a drill can
 * check afterwards that the database kept each one.
 */
export type LoadFixture = {
  app: { clientId: string; redirectUri: string };
  service: { clientId: string; clientSecret: string };
  tv: { clientId: string };
  person: Person;
};

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Clients and a person for the load, made through the container of a running Latch. */
export async function seedLoadFixture(latch: TestLatch): Promise<LoadFixture> {
  const c = latch.container.clients;
  const redirectUri = 'https://app.example.com/cb';
  const app = await c.create({ name: 'Load app', public: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token'] });
  const service = await c.create({ name: 'Load service', grantTypes: ['client_credentials'] });
  const tv = await c.create({ name: 'Load TV', public: true, grantTypes: [DEVICE_GRANT] });
  const person = await createPerson(latch, `load-${crypto.randomBytes(4).toString('hex')}@example.com`);
  return { app: { clientId: app.clientId, redirectUri }, service: { clientId: service.clientId, clientSecret: service.clientSecret! }, tv: { clientId: tv.clientId }, person };
}

export type OpKind = 'signIn' | 'refresh' | 'clientCredentials' | 'introspect' | 'devicePoll';
export const OP_KINDS: OpKind[] = ['signIn', 'refresh', 'clientCredentials', 'introspect', 'devicePoll'];

/** status 0 = no HTTP answer (connection refused or reset). `problem` marks a wrong answer. */
export type Outcome = { kind: OpKind; status: number; ms: number; at: number; target: string; problem?: string };

export type IssuedToken = { kind: 'access' | 'refresh'; token: string; at: number; target: string };

const FORM = 'application/x-www-form-urlencoded';
const DEFAULT_MIX: Record<OpKind, number> = { signIn: 1, refresh: 3, clientCredentials: 3, introspect: 3, devicePoll: 2 };

/** The HTTP status an exception from the flow helpers carries in its message, or 0. */
function statusOf(err: unknown): number {
  const match = /\b([1-5]\d\d)\b/.exec((err as Error)?.message ?? '');
  return match ? Number(match[1]) : 0;
}

export function createWorkload(fixture: LoadFixture, opts: { target: () => string; mix?: Partial<Record<OpKind, number>>; deviceIntervalSeconds?: number; keepIssued?: boolean }) {
  const mix = { ...DEFAULT_MIX, ...opts.mix };
  const intervalMs = (opts.deviceIntervalSeconds ?? 5) * 1000;
  const refreshTokens: string[] = [];
  const accessTokens: string[] = [];
  const devices: Array<{ code: string; next: number; born: number }> = [];
  const issued: IssuedToken[] = [];
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(fixture.service.clientId)}:${encodeURIComponent(fixture.service.clientSecret)}`).toString('base64')}`;

  const remember = (kind: IssuedToken['kind'], token: string | undefined, target: string) => {
    if (!token) return;
    if (kind === 'access') {
      accessTokens.push(token);
      if (accessTokens.length > 500) accessTokens.shift();
    } else refreshTokens.push(token);
    if (opts.keepIssued) issued.push({ kind, token, at: Date.now(), target });
  };

  async function post(target: string, path: string, body: Record<string, string>, auth?: string) {
    const res = await fetch(`${target}${path}`, {
      method: 'POST',
      headers: { 'content-type': FORM, ...(auth ? { authorization: auth } : {}) },
      body: new URLSearchParams(body).toString(),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: left empty, the status tells
    }
    return { status: res.status, json };
  }

  const ops: Record<OpKind, (target: string) => Promise<{ status: number; problem?: string } | undefined>> = {
    async signIn(target) {
      try {
        const agent = request.agent(target);
        const latch = { url: target } as TestLatch;
        const { code, verifier } = await authorize(latch, agent, fixture.person, { ...fixture.app, scope: 'openid offline_access', prompt: 'consent' });
        const tokens = await redeem(latch, fixture.app.clientId, fixture.app.redirectUri, code, verifier);
        remember('access', tokens.access_token, target);
        remember('refresh', tokens.refresh_token, target);
        return { status: 200, problem: tokens.refresh_token ? undefined : 'no refresh token' };
      } catch (err) {
        return { status: statusOf(err), problem: (err as Error).message.slice(0, 200) };
      }
    },
    async refresh(target) {
      const token = refreshTokens.shift();
      if (!token) return undefined;
      let res;
      try {
        res = await post(target, '/token', { grant_type: 'refresh_token', refresh_token: token, client_id: fixture.app.clientId });
      } catch (err) {
        // refused: the token was not used, try it again later; cut off mid-request: whether it
        // was used is unknown (a reuse would rightly revoke the grant), so it is given up
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (code === 'ECONNREFUSED') refreshTokens.push(token);
        return { status: 0, problem: `no answer (${code ?? 'unknown'})` };
      }
      if (res.status === 200) {
        remember('access', res.json.access_token as string, target);
        remember('refresh', res.json.refresh_token as string, target);
        return { status: 200 };
      }
      if (res.status >= 500) refreshTokens.push(token); // refused before use: keep it
      return { status: res.status, problem: `${res.json.error ?? ''}` };
    },
    async clientCredentials(target) {
      const res = await post(target, '/token', { grant_type: 'client_credentials' }, basic);
      if (res.status === 200) remember('access', res.json.access_token as string, target);
      return { status: res.status, problem: res.status === 200 ? undefined : `${res.json.error ?? ''}` };
    },
    async introspect(target) {
      const token = accessTokens[crypto.randomInt(accessTokens.length || 1)];
      if (!token) return undefined;
      const res = await post(target, '/token/introspection', { token }, basic);
      if (res.status !== 200) return { status: res.status, problem: `${res.json.error ?? ''}` };
      return { status: 200, problem: res.json.active === true ? undefined : 'a token handed out is not active' };
    },
    async devicePoll(target) {
      const now = Date.now();
      // codes live 10 minutes by default; retire them well before
      while (devices.length && now - devices[0]!.born > 5 * 60_000) devices.shift();
      const due = devices.find((d) => d.next <= now);
      if (!due) {
        if (devices.length >= 20) return undefined;
        const res = await post(target, '/device/auth', { client_id: fixture.tv.clientId, scope: 'openid' });
        if (res.status === 200) devices.push({ code: res.json.device_code as string, next: now + intervalMs, born: now });
        return { status: res.status, problem: res.status === 200 ? undefined : `${res.json.error ?? ''}` };
      }
      due.next = now + intervalMs + 250;
      const res = await post(target, '/token', { grant_type: DEVICE_GRANT, device_code: due.code, client_id: fixture.tv.clientId });
      // slow_down is the server's right answer to a poll that arrived early (network delays
      // can bunch two polls up); the device backs off by 5 s for that code, as RFC 8628 says
      if (res.status === 400 && res.json.error === 'slow_down') due.next += 5000;
      const pending = res.status === 400 && (res.json.error === 'authorization_pending' || res.json.error === 'slow_down');
      return { status: res.status, problem: pending ? undefined : `${res.json.error ?? ''}` };
    },
  };

  const weighted = OP_KINDS.flatMap((kind) => Array<OpKind>(mix[kind]).fill(kind));

  /** Runs one operation of the given kind (or one picked by the mix). */
  async function runOne(kind: OpKind = weighted[crypto.randomInt(weighted.length)]!): Promise<Outcome | undefined> {
    const target = opts.target();
    const started = performance.now();
    let result: { status: number; problem?: string } | undefined;
    try {
      result = await ops[kind](target);
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      result = { status: 0, problem: `${(err as Error).message}${cause?.code ? ` (${cause.code})` : ''}` };
    }
    if (!result) return kind === 'clientCredentials' ? undefined : runOne('clientCredentials');
    return { kind, ...result, ms: performance.now() - started, at: Date.now(), target };
  }

  return { runOne, issued, refreshTokens, accessTokens };
}

export type Workload = ReturnType<typeof createWorkload>;

/**
 * Starts operations at a steady rate (open loop, so a slow server does not slow the load),
 * at most `concurrency` at once, until stop() is called; stop() waits for those in flight.
 */
export function runLoad(workload: Workload, opts: { ratePerSecond: number; concurrency: number; onOutcome(outcome: Outcome): void }) {
  let inFlight = 0;
  let skipped = 0;
  const running = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (inFlight >= opts.concurrency) {
      skipped += 1;
      return;
    }
    inFlight += 1;
    const p: Promise<void> = workload
      .runOne()
      .then((outcome) => outcome && opts.onOutcome(outcome))
      .finally(() => {
        inFlight -= 1;
        running.delete(p);
      });
    running.add(p);
  }, 1000 / opts.ratePerSecond);
  return {
    get skipped() {
      return skipped;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([...running]);
    },
  };
}
