import { expect } from 'chai';
import request from 'supertest';
import { ACR } from '../../lib/mfa/authentication-context.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { csrfFrom, type Agent } from '../support/flow.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { openSignedIn } from '../support/people.js';
import { afterPassword, consentIfAsked, enrolPasskey, passkeyOptions, signedIn, STEP_UP, type TestApp } from '../support/second-factor.js';
import { SoftwareAuthenticator, type CeremonyOverrides } from '../support/software-authenticator.js';

/**
 * SECURITY.md D.30, with a software authenticator (P-256 key, authenticator data and "none"
 * attestation built in the test) against a real Latch over HTTP: every refused assertion is
 * correctly signed and wrong in exactly one way, and a control beside it — the same ceremony
 * made right — is accepted, so the refusal has that one cause.
 */
describe('SECURITY D.30 — WebAuthn: single-use challenge tied to the session; pinned origin and RP ID; user verification for passwordless; counter check', function () {
  let latch: TestLatch;
  let app: TestApp;
  let origin: string;
  let rpId: string;

  before(async function () {
    this.timeout(180_000); // the first Latch of a run also builds the embedded template
    latch = await startLatch();
    app = await testApp(latch);
    origin = new URL(latch.issuer).origin;
    rpId = new URL(latch.issuer).hostname;
  });
  after(() => latch?.close());

  let people = 0;
  /** An account with the software authenticator registered as its passkey (through the hosted pages). */
  async function withPasskey(options: { counterStep?: number } = {}) {
    const account = await createAccount(latch, `passkey-${++people}@example.com`);
    const authenticator = new SoftwareAuthenticator({ origin, counterStep: options.counterStep });
    await enrolPasskey(latch, app, account, authenticator);
    return { account, authenticator };
  }

  /** A new browser on the sign-in page, ready for "Use a passkey" (passwordless). */
  async function atPasswordless(extra: Record<string, string> = {}) {
    const pages = new HostedPages(latch);
    const flow = await app.start(pages, extra);
    const uid = pages.uid;
    return {
      pages,
      flow,
      uid,
      options: (headers: Record<string, string> = {}) => passkeyOptions(pages, `/interaction/${uid}/passkey/options`, headers),
      submit: (assertion: unknown) => pages.submit(`/interaction/${uid}/passkey`, { response: JSON.stringify(assertion) }),
    };
  }

  const storedCounter = async (accountId: string) => Number((await latch.container.knex('webauthn_credentials').where({ account_id: accountId }).first()).counter);

  function expectRefused(pages: HostedPages, label = '') {
    expect(pages.status, `${label} ${pages.text.slice(0, 200)}`).to.equal(400);
    expect(pages.text, label).to.include('That passkey could not be verified');
    expect(pages.callback, label).to.equal(undefined);
  }

  /** Finishes a sign-in that moved on and returns the ID token claims the app gets. */
  async function claimsOf(signIn: { pages: HostedPages; flow: { redeem(): Promise<{ claims: Record<string, unknown> }> } }) {
    expect(signedIn(signIn.pages), `${signIn.pages.status} ${signIn.pages.text.slice(0, 300)}`).to.equal(true);
    await consentIfAsked(signIn.pages);
    return (await signIn.flow.redeem()).claims;
  }

  /** One passwordless sign-in with an assertion over a fresh challenge, changed by `o`. */
  async function passwordless(authenticator: SoftwareAuthenticator, o: CeremonyOverrides = {}) {
    const signIn = await atPasswordless();
    const assertion = authenticator.assert(await signIn.options(), o);
    await signIn.submit(assertion);
    return { ...signIn, assertion };
  }

  it('registers the software authenticator through the hosted pages and signs in with it alone (amr [hwk, mfa])', async () => {
    const { account, authenticator } = await withPasskey();
    const row = await latch.container.knex('webauthn_credentials').where({ account_id: account.id }).first();
    expect(row.credential_id).to.equal(authenticator.id);
    expect(Number(row.counter)).to.equal(0);

    const signIn = await passwordless(authenticator);
    const claims = await claimsOf(signIn);
    expect(claims.sub).to.equal(account.id);
    expect(claims.amr).to.deep.equal(['hwk', 'mfa']);
    expect(claims.acr).to.equal(ACR.multiFactor);
    expect(await storedCounter(account.id)).to.equal(1);
  });

  it('the same assertion sent twice: the second time it is refused, and the counter stays where the first left it', async () => {
    const { account, authenticator } = await withPasskey();
    const first = await passwordless(authenticator);
    expect((await claimsOf(first)).sub).to.equal(account.id);

    const second = await atPasswordless();
    await second.options(); // this sign-in has a live challenge of its own, just not that one
    await second.submit(first.assertion);
    expectRefused(second.pages);
    expect(await storedCounter(account.id)).to.equal(1);
  });

  it('a challenge is answered once: after any answer, a fresh, correctly signed assertion over it is refused', async () => {
    const { account, authenticator } = await withPasskey();
    const signIn = await atPasswordless();
    const options = await signIn.options();
    await signIn.submit(authenticator.assert(options, { origin: 'https://evil.example' }));
    expectRefused(signIn.pages, 'wrong origin');
    await signIn.submit(authenticator.assert(options));
    expectRefused(signIn.pages, 'right assertion, spent challenge');

    // control: the same browser with a new challenge signs in
    await signIn.submit(authenticator.assert(await signIn.options()));
    expect((await claimsOf(signIn)).sub).to.equal(account.id);
  });

  it('ten racing assertions over one challenge: exactly one signs in', async () => {
    const { authenticator } = await withPasskey();
    const signIn = await atPasswordless();
    const options = await signIn.options();
    // each is signed correctly, with its own higher counter
    const assertions = Array.from({ length: 10 }, () => authenticator.assert(options));
    const csrf = signIn.pages.csrf;
    const answers = await Promise.all(
      assertions.map((a) => signIn.pages.agent.post(`/interaction/${signIn.uid}/passkey`).type('form').send({ _csrf: csrf, response: JSON.stringify(a) })),
    );
    expect(answers.filter((r) => r.status === 303), answers.map((r) => r.status).join(',')).to.have.length(1);
    expect(answers.filter((r) => r.status === 400)).to.have.length(9);
  });

  it("an assertion over a challenge issued to another browser's sign-in is refused; that browser's own challenge still works", async () => {
    const { account, authenticator } = await withPasskey();
    const victim = await atPasswordless();
    const victimOptions = await victim.options();
    const attacker = await atPasswordless();
    const attackerOptions = await attacker.options();
    expect(attackerOptions.challenge).not.to.equal(victimOptions.challenge);

    await attacker.submit(authenticator.assert(victimOptions));
    expectRefused(attacker.pages, "another sign-in's challenge");
    // nor can the other browser post to the first one's interaction
    const foreign = await attacker.pages.agent
      .post(`/interaction/${victim.uid}/passkey`)
      .type('form')
      .send({ _csrf: attacker.pages.csrf, response: JSON.stringify(authenticator.assert(victimOptions)) });
    expect(foreign.status).to.equal(400);
    expect(foreign.text).to.include('belongs to another browser');

    // controls: each browser's own challenge is accepted
    await attacker.submit(authenticator.assert(attackerOptions));
    expect((await claimsOf(attacker)).sub).to.equal(account.id);
    await victim.submit(authenticator.assert(victimOptions));
    expect((await claimsOf(victim)).sub).to.equal(account.id);
  });

  it("from the account pages, a new passkey's challenge belongs to the browser session that asked for it", async () => {
    const person = await createAccount(latch, 'passkey-account-page@example.com');
    const authenticator = new SoftwareAuthenticator({ origin });
    /** A browser signed in on /account/security, with the page's CSRF token. */
    const securityPage = async () => {
      const agent = request.agent(latch.url);
      const page = await openSignedIn(latch, agent, person, '/account/security');
      expect(page.status, page.text.slice(0, 200)).to.equal(200);
      return { agent, csrf: csrfFrom(page.text) };
    };
    const optionsOf = async ({ agent, csrf }: { agent: Agent; csrf: string }) =>
      (await agent.post('/account/security/passkeys/options').set('accept', 'application/json').send({ _csrf: csrf }).expect(200)).body;
    const [first, second] = await Promise.all([securityPage(), securityPage()]);
    const firstOptions = await optionsOf(first);
    const secondOptions = await optionsOf(second);
    expect(firstOptions.rp.id).to.equal(rpId);

    const stolen = await second.agent.post('/account/security/passkeys').type('form').send({ _csrf: second.csrf, name: 'Key', response: JSON.stringify(authenticator.register(firstOptions)) });
    expect(stolen.status).to.equal(400);
    expect(stolen.text).to.include('That passkey could not be verified');
    expect(await latch.container.knex('webauthn_credentials').where({ account_id: person.id }).first()).to.equal(undefined);

    // control: the same authenticator answering this session's own challenge is registered
    const own = await second.agent.post('/account/security/passkeys').type('form').send({ _csrf: second.csrf, name: 'Key', response: JSON.stringify(authenticator.register(secondOptions)) });
    expect(own.status).to.equal(200);
    expect(own.text).to.include('Save your recovery codes');
    expect((await latch.container.knex('webauthn_credentials').where({ account_id: person.id }).first()).credential_id).to.equal(authenticator.id);
  });

  it('offers and accepts only EdDSA, ES256 and RS256 keys on every Node: an ML-DSA-44 key is refused, the same authenticator with P-256 is registered', async () => {
    const person = await createAccount(latch, 'passkey-algorithms@example.com');
    const authenticator = new SoftwareAuthenticator({ origin });
    const agent = request.agent(latch.url);
    const page = await openSignedIn(latch, agent, person, '/account/security');
    const csrf = csrfFrom(page.text);
    const options = async () => (await agent.post('/account/security/passkeys/options').set('accept', 'application/json').send({ _csrf: csrf }).expect(200)).body;
    const register = async (o: CeremonyOverrides) =>
      agent.post('/account/security/passkeys').type('form').send({ _csrf: csrf, name: 'Key', response: JSON.stringify(authenticator.register(await options(), o)) });

    // SimpleWebAuthn would offer ML-DSA-44 first where WebCrypto has it (Node 24)
    expect((await options()).pubKeyCredParams.map((p: { alg: number }) => p.alg)).to.deep.equal([-8, -7, -257]);
    const mlDsa = await register({ mlDsa44Key: true });
    expect(mlDsa.status).to.equal(400);
    expect(mlDsa.text).to.include('That passkey could not be verified');
    expect(await latch.container.knex('webauthn_credentials').where({ account_id: person.id }).first()).to.equal(undefined);

    const p256 = await register({});
    expect(p256.status).to.equal(200);
    expect((await latch.container.knex('webauthn_credentials').where({ account_id: person.id }).first()).credential_id).to.equal(authenticator.id);
  });

  it('the RP ID in the options is the issuer host, whatever Host or X-Forwarded-Host the request carries', async () => {
    const signIn = await atPasswordless();
    expect((await signIn.options()).rpId).to.equal(rpId);
    expect((await signIn.options({ Host: 'evil.example', 'X-Forwarded-Host': 'evil.example' })).rpId).to.equal(rpId);
  });

  it("refuses a clientDataJSON origin other than the issuer's; the same assertion with the issuer's origin signs in", async () => {
    const { account, authenticator } = await withPasskey();
    const port = new URL(origin).port;
    for (const wrong of ['https://evil.example', `http://127.0.0.1:${port}`, `https://localhost:${port}`, `http://localhost:${Number(port) + 1}`]) {
      const before = await storedCounter(account.id);
      const { pages } = await passwordless(authenticator, { origin: wrong });
      expectRefused(pages, wrong);
      expect(await storedCounter(account.id), wrong).to.equal(before);
    }
    expect((await claimsOf(await passwordless(authenticator))).sub).to.equal(account.id);
  });

  it('refuses authenticator data whose rpIdHash is for another RP ID; the right one signs in', async () => {
    const { account, authenticator } = await withPasskey();
    for (const wrong of ['evil.example', '127.0.0.1', `${rpId}.evil.example`]) {
      const { pages } = await passwordless(authenticator, { rpId: wrong });
      expectRefused(pages, wrong);
    }
    expect((await claimsOf(await passwordless(authenticator))).sub).to.equal(account.id);
  });

  it('registration is pinned too: another origin or RP ID registers nothing', async () => {
    const account = await createAccount(latch, 'passkey-register@example.com');
    const authenticator = new SoftwareAuthenticator({ origin });
    const { pages, uid } = await afterPassword(latch, app, account, STEP_UP);
    for (const wrong of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }]) {
      const options = await passkeyOptions(pages, `/interaction/${uid}/mfa/enrol/passkey/options`);
      expect(options.rp?.id).to.equal(rpId);
      await pages.submit(`/interaction/${uid}/mfa/enrol/passkey`, { response: JSON.stringify(authenticator.register(options, wrong)), name: 'Key' });
      expect(pages.status, JSON.stringify(wrong)).to.equal(400);
      expect(pages.text).to.include('That passkey could not be verified');
      expect(await latch.container.knex('webauthn_credentials').where({ account_id: account.id }).first()).to.equal(undefined);
    }
    const options = await passkeyOptions(pages, `/interaction/${uid}/mfa/enrol/passkey/options`);
    await pages.submit(`/interaction/${uid}/mfa/enrol/passkey`, { response: JSON.stringify(authenticator.register(options)), name: 'Key' });
    expect(pages.text).to.include('Save your recovery codes');
    expect((await latch.container.knex('webauthn_credentials').where({ account_id: account.id }).first()).credential_id).to.equal(authenticator.id);
  });

  it('passwordless sign-in asks for and requires user verification; as a second factor after the password, presence is enough', async () => {
    const { account, authenticator } = await withPasskey();
    const signIn = await atPasswordless();
    const options = await signIn.options();
    expect(options.userVerification).to.equal('required');
    await signIn.submit(authenticator.assert(options, { userVerified: false }));
    expectRefused(signIn.pages, 'no UV');
    const notPresent = await passwordless(authenticator, { userPresent: false });
    expectRefused(notPresent.pages, 'no UP');

    // control: with UV, the passkey alone signs in
    expect((await claimsOf(await passwordless(authenticator))).amr).to.deep.equal(['hwk', 'mfa']);

    // after the password, the same UV-less assertion is a valid second factor
    const second = await afterPassword(latch, app, account, { prompt: 'login' });
    expect(second.pages.path).to.equal(`/interaction/${second.uid}/mfa`);
    const secondOptions = await passkeyOptions(second.pages, `/interaction/${second.uid}/mfa/passkey/options`);
    await second.pages.submit(`/interaction/${second.uid}/mfa/passkey`, { response: JSON.stringify(authenticator.assert(secondOptions, { userVerified: false })) });
    expect((await claimsOf(second)).amr).to.deep.equal(['pwd', 'hwk', 'mfa']);
  });

  it('refuses a signature counter that does not increase once it is non-zero; a higher one signs in', async () => {
    const { account, authenticator } = await withPasskey();
    expect((await claimsOf(await passwordless(authenticator))).sub).to.equal(account.id);
    const stored = await storedCounter(account.id);
    expect(stored).to.be.greaterThan(0);
    for (const signCount of [stored, stored - 1]) {
      const { pages } = await passwordless(authenticator, { signCount });
      expectRefused(pages, `counter ${signCount} after ${stored}`);
      expect(await storedCounter(account.id)).to.equal(stored);
    }
    expect((await claimsOf(await passwordless(authenticator, { signCount: stored + 5 }))).sub).to.equal(account.id);
    expect(await storedCounter(account.id)).to.equal(stored + 5);
  });

  it('an authenticator without a counter (always 0) is accepted each time, as WebAuthn allows', async () => {
    const { account, authenticator } = await withPasskey({ counterStep: 0 });
    for (let i = 0; i < 2; i += 1) expect((await claimsOf(await passwordless(authenticator))).sub).to.equal(account.id);
    expect(await storedCounter(account.id)).to.equal(0);
  });
});
