import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';
import { drive, signUpAccount, xsrfFrom, type Agent } from '../support/flow.js';

/**
 * SECURITY.md part B — the device authorization grant (RFC 8628): user codes, rate-limited
 * code entry, client binding and the anti-phishing approval screen.
 */
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const BASE20 = 'BCDFGHJKLMNPQRSTVWXZ';

async function deviceAuthorization(latch: TestLatch, clientId: string, userAgent = 'LatchTestDevice/1.0') {
  const res = await request(latch.url).post('/device/auth').set('User-Agent', userAgent).type('form').send({ client_id: clientId, scope: 'openid' });
  if (res.status !== 200) throw new Error(`device authorization failed: ${res.status} ${res.text}`);
  return res.body as { device_code: string; user_code: string; expires_in: number; interval?: number };
}

const poll = (latch: TestLatch, clientId: string, deviceCode: string) =>
  request(latch.url).post('/token').type('form').send({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId });

/** A browser at /device: its session cookie and the form's xsrf token. */
async function deviceBrowser(latch: TestLatch, headers: Record<string, string> = {}) {
  const agent = request.agent(latch.url);
  const page = await agent.get('/device').set(headers).expect(200);
  return { agent, xsrf: xsrfFrom(page.text) };
}

/** Posts the code form; the page that comes back carries the session's next xsrf token. */
async function enter(b: { agent: Agent; xsrf: string }, userCode: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const res = await b.agent.post('/device').set(headers).type('form').send({ xsrf: b.xsrf, user_code: userCode, ...extra });
  const next = /name="xsrf" value="([^"]+)"/.exec(res.text ?? '');
  if (next) b.xsrf = next[1]!;
  return res;
}

describe('SECURITY B — device flow', function () {
  let latch: TestLatch;
  let tv: string;
  const email = 'dev@example.com';

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    ({ clientId: tv } = await latch.container.clients.create({ name: 'Kitchen TV', public: true, grantTypes: [DEVICE_GRANT, 'refresh_token'] }));
    await signUpAccount(latch, email);
  });
  after(() => latch.close());

  describe('SECURITY B.15 — user codes: ≥ 34 bits, case/punctuation-insensitive, single-use, expiring, unique', () => {
    it('codes are 8 base-20 characters (20^8 > 2^34), all different', async () => {
      const codes = new Set<string>();
      for (let i = 0; i < 25; i++) {
        const { user_code } = await deviceAuthorization(latch, tv);
        const bare = user_code.replace('-', '');
        expect(bare).to.have.length(8);
        for (const ch of bare) expect(BASE20, user_code).to.include(ch);
        codes.add(bare);
      }
      expect(codes.size).to.equal(25);
      expect(8 * Math.log2(20)).to.be.greaterThan(34);
    });

    it('accepts the code in any case and with spaces, dots or no dash', async () => {
      const { user_code } = await deviceAuthorization(latch, tv);
      const bare = user_code.replace('-', '');
      const b = await deviceBrowser(latch);
      for (const typed of [user_code.toLowerCase(), bare, `${bare.slice(0, 4)} ${bare.slice(4)}`.toLowerCase(), ` ${bare.slice(0, 2)}.${bare.slice(2)} `]) {
        const res = await enter(b, typed);
        expect(res.status, typed).to.equal(200);
        expect(res.text, typed).to.include('Authorize this device?');
        expect(res.text, typed).to.include(user_code);
      }
    });

    it('a code works once: after approval, and after denial, it is "already used"', async () => {
      const approved = await deviceAuthorization(latch, tv);
      const b = await deviceBrowser(latch);
      const confirm = await enter(b, approved.user_code, { confirm: 'yes' });
      const done = await drive(latch, b.agent, confirm, { email });
      expect(done.signedIn).to.equal(true);
      expect(done.last.status).to.equal(200);
      expect(done.last.text).to.include('Device connected');
      const tokens = await poll(latch, tv, approved.device_code);
      expect(tokens.status).to.equal(200);
      expect(tokens.body.access_token).to.be.a('string');

      const b2 = await deviceBrowser(latch);
      const again = await enter(b2, approved.user_code);
      expect(again.status).to.equal(400);
      expect(again.text).to.include('already been used');
      // the device code itself is spent too
      expect((await poll(latch, tv, approved.device_code)).body.error).to.equal('invalid_grant');

      const denied = await deviceAuthorization(latch, tv);
      const b3 = await deviceBrowser(latch);
      await enter(b3, denied.user_code, { abort: 'yes' });
      expect((await poll(latch, tv, denied.device_code)).body.error).to.equal('access_denied');
      const b4 = await deviceBrowser(latch);
      const reuse = await enter(b4, denied.user_code);
      expect(reuse.status).to.equal(400);
      expect(reuse.text).to.include('already been used');
    });

    it('codes expire after LATCH_DEVICE_CODE_TTL (10 min by default); an expired code is refused', async () => {
      const device = await deviceAuthorization(latch, tv);
      expect(device.expires_in).to.be.within(1, 600);
      // let the code's time pass: move its expiry into the past, as the clock would
      const updated = await latch.container.knex('oidc_payloads')
        .where({ model: 'DeviceCode', id: device.device_code })
        .update({ expires_at: new Date(Date.now() - 1000) });
      expect(updated).to.equal(1);
      const b = await deviceBrowser(latch);
      const res = await enter(b, device.user_code, { confirm: 'yes' });
      expect(res.status).to.equal(400);
      expect(res.text).not.to.include('Authorize this device?');
      const polled = await poll(latch, tv, device.device_code);
      expect(polled.status).to.equal(400);
      expect(polled.body.error).to.be.oneOf(['expired_token', 'invalid_grant']);
    });

    it('the store refuses a second live device code with the same user code', async () => {
      const device = await deviceAuthorization(latch, tv);
      const { provider } = latch.container;
      const client = (await provider.Client.find(tv))!;
      const clash = new provider.DeviceCode({ client, userCode: device.user_code.replace('-', ''), params: { client_id: tv, scope: 'openid' }, deviceInfo: { ip: '127.0.0.1', ua: 'x' } } as unknown as ConstructorParameters<typeof provider.DeviceCode>[0]);
      let failed = false;
      try {
        await clash.save();
      } catch {
        failed = true;
      }
      expect(failed).to.equal(true);
      const rows = await latch.container.knex('oidc_payloads').where({ model: 'DeviceCode', user_code: device.user_code.replace('-', '') });
      expect(rows).to.have.length(1);
      expect(rows[0].id).to.equal(device.device_code);
    });
  });

  describe('SECURITY B.17 — a device_code is bound to its client', () => {
    it('another client polling with the device code gets invalid_grant; the right client is still pending', async () => {
      const device = await deviceAuthorization(latch, tv);
      const { clientId: other } = await latch.container.clients.create({ name: 'Other TV', public: true, grantTypes: [DEVICE_GRANT] });
      const wrong = await poll(latch, other, device.device_code);
      expect(wrong.status).to.equal(400);
      expect(wrong.body.error).to.equal('invalid_grant');
      const confidential = await latch.container.clients.create({ name: 'Server', grantTypes: [DEVICE_GRANT] });
      const wrong2 = await request(latch.url).post('/token').auth(confidential.clientId, confidential.clientSecret!).type('form').send({ grant_type: DEVICE_GRANT, device_code: device.device_code });
      expect(wrong2.body.error).to.equal('invalid_grant');
      expect((await poll(latch, tv, device.device_code)).body.error).to.equal('authorization_pending');
    });
  });

  describe('SECURITY B.17 — polling faster than `interval` gets slow_down', () => {
    it('names the interval; a second poll within it is slow_down, one after it is pending again, and an approved code is not held back', async () => {
      const device = await deviceAuthorization(latch, tv);
      const interval = Number(latch.env.LATCH_DEVICE_POLL_INTERVAL);
      expect(device.interval).to.equal(interval);
      const first = await poll(latch, tv, device.device_code);
      expect(first.body.error).to.equal('authorization_pending');
      const fast = await poll(latch, tv, device.device_code);
      expect(fast.status).to.equal(400);
      expect(fast.body.error).to.equal('slow_down');
      await new Promise((resolve) => setTimeout(resolve, interval * 1000 + 100));
      expect((await poll(latch, tv, device.device_code)).body.error).to.equal('authorization_pending');

      // the limit is per code: another device of the same client is not slowed by this one
      const other = await deviceAuthorization(latch, tv);
      expect((await poll(latch, tv, other.device_code)).body.error).to.equal('authorization_pending');

      // once approved, the very next poll gets the tokens, however soon it comes
      const b = await deviceBrowser(latch);
      const confirm = await enter(b, device.user_code, { confirm: 'yes' });
      expect((await drive(latch, b.agent, confirm, { email })).signedIn).to.equal(true);
      const tokens = await poll(latch, tv, device.device_code);
      expect(tokens.status).to.equal(200);
      expect(tokens.body.access_token).to.be.a('string');
    });

    it('a hostile poller hammering one code gets only pending or slow_down, never a 5xx', async () => {
      const device = await deviceAuthorization(latch, tv);
      const answers = await Promise.all(Array.from({ length: 10 }, () => poll(latch, tv, device.device_code)));
      const errors = answers.map((res) => `${res.status} ${res.body.error}`);
      expect(errors.filter((e) => e === '400 authorization_pending').length, errors.join(', ')).to.be.at.most(1);
      expect(errors.filter((e) => e === '400 slow_down').length, errors.join(', ')).to.be.at.least(9);
    });
  });

  describe('SECURITY B.18 — the approval screen names the client and the request\'s origin and asks an explicit, CSRF-protected question', () => {
    it('shows the client, the device\'s IP and user agent (escaped), the code, and Approve / Deny buttons', async () => {
      const device = await deviceAuthorization(latch, tv, 'SmartTV/2.0 <img src=x onerror=alert(1)>');
      const b = await deviceBrowser(latch);
      const res = await enter(b, device.user_code);
      expect(res.status).to.equal(200);
      expect(res.text).to.include('Authorize this device?');
      expect(res.text).to.include('Kitchen TV');
      expect(res.text).to.match(/127\.0\.0\.1|::1/);
      expect(res.text).to.include('SmartTV/2.0 &lt;img src=x onerror=alert(1)&gt;');
      expect(res.text).not.to.include('<img src=x');
      expect(res.text).to.include(device.user_code);
      expect(res.text).to.match(/<button[^>]+name="confirm" value="yes"[^>]*>Approve<\/button>/);
      expect(res.text).to.match(/<button[^>]+name="abort" value="yes"[^>]*>Deny<\/button>/);
      expect(res.text).to.match(/name="xsrf" value="[^"]+"/);
      // showing the screen approves nothing
      expect((await poll(latch, tv, device.device_code)).body.error).to.equal('authorization_pending');
    });

    it('opening verification_uri_complete shows a form to post, not an approval', async () => {
      const device = await deviceAuthorization(latch, tv);
      const b = await deviceBrowser(latch);
      const res = await b.agent.get('/device').query({ user_code: device.user_code });
      expect(res.status).to.equal(200);
      expect((await poll(latch, tv, device.device_code)).body.error).to.equal('authorization_pending');
      const row = await latch.container.knex('oidc_payloads').where({ model: 'DeviceCode', id: device.device_code }).first();
      const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
      expect(payload).not.to.have.property('inFlight');
      expect(payload).not.to.have.property('accountId');
    });

    it('an approval without the session\'s xsrf token, with a forged one, or from another browser is refused', async () => {
      const device = await deviceAuthorization(latch, tv);
      const victim = await deviceBrowser(latch);
      const attacker = await deviceBrowser(latch);
      const attempts = [
        await victim.agent.post('/device').type('form').send({ user_code: device.user_code, confirm: 'yes' }),
        await enter({ agent: victim.agent, xsrf: 'forged-token' }, device.user_code, { confirm: 'yes' }),
        await enter({ agent: attacker.agent, xsrf: victim.xsrf }, device.user_code, { confirm: 'yes' }),
        await request(latch.url).post('/device').type('form').send({ xsrf: victim.xsrf, user_code: device.user_code, confirm: 'yes' }),
      ];
      for (const res of attempts) {
        expect(res.status).to.equal(400);
        expect(res.headers).not.to.have.property('location');
      }
      const row = await latch.container.knex('oidc_payloads').where({ model: 'DeviceCode', id: device.device_code }).first();
      const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
      expect(payload).not.to.have.property('inFlight');
      // the real person can still approve it from their own form
      const form = await deviceBrowser(latch);
      expect((await enter(form, device.user_code)).text).to.include('Authorize this device?');
      const ok = await enter(form, device.user_code, { confirm: 'yes' });
      expect(ok.status).to.equal(303);
      expect(ok.headers.location).to.match(/\/interaction\//);
    });
  });
});

describe('SECURITY B.16 — code entry is rate-limited per IP and per session: after 20 wrong codes, 429', function () {
  const wrongCode = (i: number) => `${BASE20[i % 20]}${BASE20[(i * 7) % 20]}BB-BBBB`;

  describe('with the default configuration (X-Forwarded-For is not trusted)', () => {
    let latch: TestLatch;
    let tv: string;
    before(async function () {
      this.timeout(180_000); // the first Latch of a run also builds the embedded template
      latch = await startLatch();
      ({ clientId: tv } = await latch.container.clients.create({ name: 'Kitchen TV', public: true, grantTypes: [DEVICE_GRANT] }));
    });
    after(() => latch.close());

    it('the 21st wrong code gets 429 with Retry-After, even a right one; a spoofed X-Forwarded-For in a new session does not reset it', async () => {
      const device = await deviceAuthorization(latch, tv);
      const b = await deviceBrowser(latch);
      for (let i = 0; i < 20; i++) {
        const res = await enter(b, wrongCode(i), {}, { 'X-Forwarded-For': `203.0.113.${i + 1}` });
        expect(res.status, `attempt ${i + 1}`).to.equal(400);
        expect(res.text).to.include('That code is not valid');
      }
      const limited = await enter(b, wrongCode(20));
      expect(limited.status).to.equal(429);
      expect(Number(limited.headers['retry-after'])).to.be.greaterThan(0);
      expect(limited.text).to.include('Too many wrong codes');

      const right = await enter(b, device.user_code);
      expect(right.status).to.equal(429);
      expect(right.text).not.to.include('Authorize this device?');

      const fresh = await deviceBrowser(latch, { 'X-Forwarded-For': '198.51.100.77' });
      const spoofed = await enter(fresh, device.user_code, {}, { 'X-Forwarded-For': '198.51.100.77', 'X-Real-IP': '198.51.100.77' });
      expect(spoofed.status).to.equal(429);
      expect(Number(spoofed.headers['retry-after'])).to.be.greaterThan(0);
      expect((await poll(latch, tv, device.device_code)).body.error).to.equal('authorization_pending');
    });
  });

  describe('behind a trusted proxy (LATCH_TRUST_PROXY=true), so per-IP and per-session limits can be told apart', () => {
    let latch: TestLatch;
    let tv: string;
    before(async function () {
      this.timeout(180_000); // the first Latch of a run also builds the embedded template
      latch = await startLatch({ LATCH_TRUST_PROXY: 'true' });
      ({ clientId: tv } = await latch.container.clients.create({ name: 'Kitchen TV', public: true, grantTypes: [DEVICE_GRANT] }));
    });
    after(() => latch.close());

    it('per session: one browser changing its IP each time is stopped after 20 wrong codes', async () => {
      const device = await deviceAuthorization(latch, tv);
      const b = await deviceBrowser(latch, { 'X-Forwarded-For': '192.0.2.200' });
      for (let i = 0; i < 20; i++) {
        const res = await enter(b, wrongCode(i), {}, { 'X-Forwarded-For': `192.0.2.${i + 1}` });
        expect(res.status, `attempt ${i + 1}`).to.equal(400);
      }
      const limited = await enter(b, device.user_code, {}, { 'X-Forwarded-For': '192.0.2.99' });
      expect(limited.status).to.equal(429);
      expect(Number(limited.headers['retry-after'])).to.be.greaterThan(0);
      // the same code from another browser on another address is fine: only that session is limited
      const other = await deviceBrowser(latch, { 'X-Forwarded-For': '192.0.2.150' });
      const ok = await enter(other, device.user_code, {}, { 'X-Forwarded-For': '192.0.2.150' });
      expect(ok.status).to.equal(200);
      expect(ok.text).to.include('Authorize this device?');
    });

    it('per IP: twenty-one fresh sessions from one address are stopped at the 21st', async () => {
      const ip = { 'X-Forwarded-For': '198.51.100.9' };
      for (let i = 0; i < 20; i++) {
        const b = await deviceBrowser(latch, ip);
        const res = await enter(b, wrongCode(i), {}, ip);
        expect(res.status, `attempt ${i + 1}`).to.equal(400);
      }
      const b = await deviceBrowser(latch, ip);
      const limited = await enter(b, wrongCode(21), {}, ip);
      expect(limited.status).to.equal(429);
      expect(Number(limited.headers['retry-after'])).to.be.greaterThan(0);
    });
  });
});
