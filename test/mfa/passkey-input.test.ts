import { expect } from 'chai';
import { HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** Whatever is posted as a passkey response, the answer is a refusal page or JSON — never a 500. */
describe('passkey endpoints with malformed input', () => {
  let latch: TestLatch;
  let app: Awaited<ReturnType<typeof testApp>>;

  before(async () => {
    latch = await startLatch();
    app = await testApp(latch);
  });
  after(() => latch.close());

  const responses: Array<[string, string]> = [
    ['not JSON', 'not json at all'],
    ['an empty object', '{}'],
    ['JSON of the wrong type', '[1,2,3]'],
    ['client data without a challenge', JSON.stringify({ id: 'AA', rawId: 'AA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' } })],
    ['an unknown challenge', JSON.stringify({ id: 'AA', rawId: 'AA', type: 'public-key', response: { clientDataJSON: Buffer.from('{"type":"webauthn.get","challenge":"nope","origin":"x"}').toString('base64url'), authenticatorData: 'AA', signature: 'AA' } })],
    ['non-base64url fields', JSON.stringify({ id: '<script>', rawId: '<script>', type: 'public-key', response: { clientDataJSON: '%%%', authenticatorData: '$$', signature: '!!' } })],
    ['a huge id', JSON.stringify({ id: 'A'.repeat(20000), rawId: 'A', type: 'public-key', response: { clientDataJSON: 'AA', authenticatorData: 'AA', signature: 'AA' } })],
  ];

  for (const [label, response] of responses) {
    it(`refuses ${label} at passwordless sign-in with the sign-in page`, async () => {
      const pages = new HostedPages(latch);
      await app.start(pages);
      const uid = pages.uid;
      await pages.submit(`/interaction/${uid}/passkey/options`, {});
      await pages.get(`/interaction/${uid}`);
      await pages.submit(`/interaction/${uid}/passkey`, { response });
      expect(pages.status).to.equal(400);
      expect(pages.text).to.include('That passkey could not be verified');
      expect(pages.text).not.to.include('&lt;script&gt;');
      expect(pages.callback).to.equal(undefined);
    });
  }

  it('answers JSON errors for option requests without a pending sign-in', async () => {
    const pages = new HostedPages(latch);
    await app.start(pages);
    const uid = pages.uid;
    const res = await pages.agent.post(`/interaction/${uid}/mfa/passkey/options`).set('accept', 'application/json').send({ _csrf: pages.csrf });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('sign_in_expired');
  });

  it('refuses a second-factor passkey for a sign-in that has not passed the password', async () => {
    const pages = new HostedPages(latch);
    await app.start(pages);
    await pages.submit(`/interaction/${pages.uid}/mfa/passkey`, { response: '{}' });
    expect(pages.status).to.equal(400);
    expect(pages.text).to.include('This sign-in has expired');
  });
});
