import { expect } from 'chai';
import * as jose from 'jose';
import request from 'supertest';
import { createTestDatabase, usingPostgres } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { createPerson, signIn, testApp, type Person } from '../support/people.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';

/**
 * An account's claims (e-mail, whether it is verified, name) and whether it is disabled are
 * read from memory once known — for each token issued to the person, userinfo and API calls —
 * and every change to them reaches that memory: a new name, a verified address, a password
 * reset (which verifies the address), the account disabled, enabled or deleted. On the
 * instance that made the change at the next request; on another instance sharing PostgreSQL
 * as soon as its change feed hears the notice.
 */
const whoami = (latch: TestLatch, accessToken: string) => request(latch.url).get('/api/v1/whoami').set('Authorization', `Bearer ${accessToken}`);
const sessionsOf = (latch: TestLatch, accessToken: string) => request(latch.url).get('/api/v1/sessions').set('Authorization', `Bearer ${accessToken}`);

function accountReads(latch: TestLatch) {
  const reads: string[] = [];
  const onQuery = (query: { sql: string }) => {
    if (/^\s*select/i.test(query.sql) && /from "accounts" where "id"/.test(query.sql)) reads.push(query.sql);
  };
  latch.container.knex.on('query', onQuery);
  return { reads, stop: () => latch.container.knex.removeListener('query', onQuery) };
}

/** A person signed in to a test app: an access token for Latch's API, and a refresh token whose ID tokens carry e-mail and profile claims. */
type Holder = { person: Person; app: { clientId: string; redirectUri: string }; apiToken: string; refreshToken: string };

async function signedInPerson(latch: TestLatch, email: string, opts: { verified?: boolean } = {}): Promise<Holder> {
  const person = await createPerson(latch, email, { name: 'Ada', ...opts });
  const app = await testApp(latch);
  const { tokens } = await signIn(latch, person, { ...app, scope: 'openid email profile offline_access api:read api:write' });
  return { person, app, apiToken: tokens.access_token, refreshToken: tokens.refresh_token! };
}

/** The claims of a fresh ID token, from a refresh on `latch` (the refresh token rotates). */
async function idTokenClaims(latch: TestLatch, holder: Holder): Promise<jose.JWTPayload> {
  const res = await request(latch.url).post('/token').type('form').send({ grant_type: 'refresh_token', refresh_token: holder.refreshToken, client_id: holder.app.clientId });
  if (res.status !== 200) throw new Error(`refresh refused: ${res.status} ${res.text}`);
  holder.refreshToken = res.body.refresh_token;
  return jose.decodeJwt(res.body.id_token);
}

/** Every change to an account's claims, made on `writer`; `sees(check, what)` waits until `reader` shows it. */
async function claimChanges(writer: TestLatch, reader: TestLatch, mailbox: TestMailbox, sees: (check: () => Promise<boolean>, what: string) => Promise<void>) {
  const { me, accounts, accountAdmin } = writer.container;
  const stamp = Date.now();
  const renamed = await signedInPerson(writer, `renamed-${stamp}@example.com`);
  const unverified = await signedInPerson(writer, `unverified-${stamp}@example.com`, { verified: false });
  const disabled = await signedInPerson(writer, `disabled-${stamp}@example.com`);
  const deleted = await signedInPerson(writer, `deleted-${stamp}@example.com`);
  const people = [renamed, unverified, disabled, deleted];
  return {
    people,
    async apply() {
      await me.updateProfile(renamed.person.id, { name: 'Ada Lovelace' });
      await sees(async () => (await idTokenClaims(reader, renamed)).name === 'Ada Lovelace', 'the new name in an ID token');

      // the link of the mail sent at sign-up, spent as the person would
      const mail = await mailbox.next(unverified.person.email);
      await accounts.verifyEmail(new URL(mailbox.linkIn(mail, '/verify-email?token=')).searchParams.get('token'));
      await sees(async () => (await idTokenClaims(reader, unverified)).email_verified === true, 'the verified address in an ID token');

      await accountAdmin.disable(disabled.person.email);
      await sees(async () => (await whoami(reader, disabled.apiToken)).status === 401, "a disabled account's token refused by the API");
      await accountAdmin.enable(disabled.person.email);
      await sees(async () => (await whoami(reader, disabled.apiToken)).status === 200, "the enabled account's token accepted again");

      // a token that outlives its account acts for no person: calls that need one are refused
      await me.deleteAccount(deleted.person.id);
      await sees(async () => (await sessionsOf(reader, deleted.apiToken)).status === 403, "a deleted account's token acting for no one");
    },
  };
}

describe('Account claims: read from memory, and every change to them reaches it', function () {
  this.timeout(120_000);

  let latch: TestLatch;
  let mailbox: TestMailbox;
  const withMail = () => ({ SMTP_URL: mailbox.url, MAIL_FROM: 'Latch <latch@example.com>' });
  before(async () => {
    mailbox = await startMailbox();
    latch = await startLatch(withMail());
  });
  after(async () => {
    await latch?.close();
    await mailbox?.close();
  });

  it('a known account is not read again for refreshes or API calls', async () => {
    const holder = await signedInPerson(latch, 'known@example.com');
    await whoami(latch, holder.apiToken).expect(200);
    const { reads, stop } = accountReads(latch);
    try {
      for (let i = 0; i < 3; i += 1) {
        expect((await idTokenClaims(latch, holder)).email).to.equal('known@example.com');
        expect((await whoami(latch, holder.apiToken).expect(200)).body.sub).to.equal(holder.person.id);
      }
      expect(reads, 'no account read').to.deep.equal([]);
    } finally {
      stop();
    }
  });

  it('a new name, a verified address, disabling, enabling and deleting take effect on the next request', async () => {
    const scene = await claimChanges(latch, latch, mailbox, async (check, what) => {
      expect(await check(), what).to.equal(true);
    });
    // every person's claims are known (read once) before the changes
    for (const holder of scene.people) await sessionsOf(latch, holder.apiToken).expect(200);
    await scene.apply();
  });

  it('a password reset verifies the address, and the next ID token says so', async () => {
    const holder = await signedInPerson(latch, 'reset@example.com', { verified: false });
    const { person } = holder;
    expect((await idTokenClaims(latch, holder)).email_verified).to.equal(false);
    await latch.container.accounts.requestPasswordReset(person.email, { ip: '198.51.100.9' });
    const mail = await mailbox.next(person.email, 10_000, 'Reset your password');
    await latch.container.accounts.resetPassword(new URL(mailbox.linkIn(mail, '/reset-password')).searchParams.get('token'), 'a new and long passphrase');
    // the reset ended every token of the account: a new sign-in, whose ID token says so
    const again = await signIn(latch, { ...person, password: 'a new and long passphrase' }, { ...holder.app, scope: 'openid email offline_access api:read' });
    expect(jose.decodeJwt(again.tokens.id_token!).email_verified).to.equal(true);
  });

  if (usingPostgres()) {
    it('two instances on one PostgreSQL: each change made on one reaches the other within moments', async () => {
      const db = await createTestDatabase();
      // one issuer for both, as behind a load balancer: a token issued by one is good at the other
      const shared = { ...withMail(), ISSUER: 'http://latch.example.test' };
      const a = await startLatch(shared, db);
      const b = await startLatch(shared, db);
      try {
        await eventually(async () => a.container.changes.live && b.container.changes.live, 'both change feeds live', 5_000);
        const scene = await claimChanges(a, b, mailbox, (check, what) => eventually(check, `${what} on the other instance`, 2_000));
        for (const holder of scene.people) await sessionsOf(b, holder.apiToken).expect(200);
        await scene.apply();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }
});
