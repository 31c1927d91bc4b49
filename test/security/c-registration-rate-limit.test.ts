import { expect } from 'chai';
import request from 'supertest';
import { THROTTLE_LIMITS } from '../../lib/throttling/throttle.service.js';
import { countRows } from '../support/flow.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/**
 * SECURITY.md C.19 — dynamic registration is rate-limited per client IP, with counters in the
 * database shared by every instance. Behind a trusted proxy here, so each test speaks from an
 * address of its own (X-Forwarded-For).
 */
describe('SECURITY C.19 — dynamic client registration is rate-limited per IP', function () {
  this.timeout(120_000);
  let latch: TestLatch;
  const limit = THROTTLE_LIMITS.registrationsPerIp.points;
  const body = (n: number) => ({ client_name: `Flood ${n}`, redirect_uris: [`https://flood.example.com/cb/${n}`] });
  const register = (ip: string, payload: unknown) => request(latch.url).post('/reg').set('X-Forwarded-For', ip).send(payload as object);

  before(async () => {
    latch = await startLatch({ LATCH_REGISTRATION: 'open', LATCH_TRUST_PROXY: 'true' });
  });
  after(() => latch.close());

  it(`after ${limit} registrations from one IP the next gets 429 with an OAuth error and Retry-After; nothing is stored`, async () => {
    const ip = '203.0.113.50';
    for (let n = 0; n < limit; n += 1) await register(ip, body(n)).expect(201);
    const clients = await countRows(latch, 'clients');
    const refused = await register(ip, body(limit));
    expect(refused.status).to.equal(429);
    expect(refused.headers['content-type']).to.match(/^application\/json/);
    expect(refused.body.error).to.equal('temporarily_unavailable');
    expect(refused.body.error_description).to.be.a('string');
    expect(Number(refused.headers['retry-after'])).to.be.greaterThan(0);
    expect(await countRows(latch, 'clients')).to.equal(clients);
    // the count lives in the database, where every instance reads it
    expect(await countRows(latch, 'rate_limits', { key: `dcr-ip:${ip}` })).to.equal(1);
    // hostile bodies are refused the same way while the limit holds
    for (const payload of ['not json', { redirect_uris: 'x'.repeat(100_000) }]) {
      expect((await register(ip, payload)).status).to.equal(429);
    }
  });

  it('another IP is not affected', async () => {
    await register('203.0.113.51', body(1000)).expect(201);
  });

  it('refused registrations (bad metadata, malformed JSON, oversized) do not count against the limit', async () => {
    const ip = '203.0.113.52';
    const hostile: unknown[] = [{ redirect_uris: ['http://evil.example.com/cb'] }, { redirect_uris: ['javascript:alert(1)'], application_type: 'native' }, { client_name: 'x'.repeat(1_000_000), redirect_uris: ['https://a.example.com/cb'] }, '{"redirect_uris": ['];
    for (let n = 0; n <= limit; n += 1) {
      const res = await (typeof hostile[n % hostile.length] === 'string'
        ? request(latch.url).post('/reg').set('X-Forwarded-For', ip).set('Content-Type', 'application/json').send(hostile[n % hostile.length] as string)
        : register(ip, hostile[n % hostile.length]));
      expect(res.status, `attempt ${n}`).to.be.within(400, 413);
      expect(res.status).to.not.equal(429);
    }
    await register(ip, body(2000)).expect(201);
  });
});
