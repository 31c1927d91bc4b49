import { expect } from 'chai';
import request from 'supertest';
import { startLatch, type TestLatch } from '../support/latch.js';

/** /metrics is Prometheus text exposition with Latch's own series. */
describe('GET /metrics', () => {
  let latch: TestLatch;
  before(async () => {
    latch = await startLatch();
  });
  after(() => latch.close());

  const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)( \d+)?$/;

  it('parses as Prometheus text and counts requests, tokens by grant and sign-ins', async () => {
    const { clientId, clientSecret } = await latch.container.clients.create({ name: 'M2M', grantTypes: ['client_credentials'] });
    await request(latch.url).post('/token').auth(clientId, clientSecret!).type('form').send({ grant_type: 'client_credentials' }).expect(200);
    await latch.container.accounts.authenticate({ email: 'nobody@example.com', password: 'wrong-password' }, { ip: '127.0.0.9' }).catch(() => undefined);
    const res = await request(latch.url).get('/metrics').expect(200);
    expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    const lines = res.text.split('\n').filter(Boolean);
    for (const line of lines) {
      if (line.startsWith('#')) expect(line, line).to.match(/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/);
      else expect(line, line).to.match(SAMPLE);
    }
    expect(res.text).to.match(/latch_tokens_issued_total\{grant_type="client_credentials"\} 1/);
    expect(res.text).to.match(/latch_http_requests_total\{method="POST",route="\/token",status="200"\} 1/);
    expect(res.text).to.match(/latch_sign_ins_total\{outcome="failure"\} 1/);
    expect(res.text).to.include('latch_http_request_duration_seconds_bucket');
    expect(res.text).to.include('latch_db_pool_connections');
  });
});
