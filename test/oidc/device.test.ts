import { expect } from 'chai';
import request from 'supertest';
import { client, discover } from '../support/oauth.js';
import { startLatch, type TestLatch } from '../support/latch.js';

const BASE20 = 'BCDFGHJKLMNPQRSTVWXZ';

describe('device authorization grant (RFC 8628)', () => {
  let latch: TestLatch;
  let config: client.Configuration;

  before(async () => {
    latch = await startLatch();
    const created = await latch.container.clients.create({
      name: 'TV App',
      public: true,
      grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    });
    config = await discover(latch.issuer, created.clientId);
  });
  after(() => latch.close());

  it('returns a device code and an 8-character base-20 user code for /device; polling is pending', async () => {
    const response = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
    expect(response.device_code).to.be.a('string');
    const userCode = response.user_code.replace('-', '');
    expect(userCode).to.have.length(8);
    for (const ch of userCode) expect(BASE20).to.include(ch);
    expect(response.verification_uri).to.equal(`${latch.issuer}/device`);
    expect(response.verification_uri_complete).to.match(/\/device\?user_code=/);

    const poll = await request(latch.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: response.device_code, client_id: config.clientMetadata().client_id });
    expect(poll.status).to.equal(400);
    expect(poll.body.error).to.equal('authorization_pending');
  });

  it('binds the device code to its client', async () => {
    const response = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const other = await latch.container.clients.create({ name: 'Other', public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
    const poll = await request(latch.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: response.device_code, client_id: other.clientId });
    expect(poll.status).to.equal(400);
    expect(poll.body.error).to.equal('invalid_grant');
  });

  it('shows the code entry page at /device with a labelled field and no inline script', async () => {
    const page = await request(latch.url).get('/device').expect(200);
    expect(page.text).to.include('<label for="user_code">');
    expect(page.text).not.to.match(/<script|onfocus=/);
    expect(page.headers['content-security-policy']).to.include("frame-ancestors 'none'");
  });

  it('re-renders the entry page with a message for an unknown code', async () => {
    const agent = request.agent(latch.url);
    const page = await agent.get('/device').expect(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)![1]!;
    const res = await agent.post('/device').type('form').send({ xsrf, user_code: 'BBBB-BBBB' });
    expect(res.status).to.equal(400);
    expect(res.text).to.include('That code is not valid');
  });
});
