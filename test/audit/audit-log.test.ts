import crypto from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { createAdminCommands } from '../../lib/admin/admin-commands.js';
import type { AuditEntry } from '../../lib/audit/audit.service.js';
import { createAccount, HostedPages, testApp } from '../support/hosted-pages.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';
import { awayFromStepBoundary, totpCode } from '../support/totp.js';

/**
 * The audit log: one event for each audited action, written by the action itself through the
 * real services and endpoints, with who did it, to what, from where and how it went.
 */
describe('audit log', function () {
  this.timeout(120_000);
  let latch: TestLatch;
  let mailbox: TestMailbox;
  let app: Awaited<ReturnType<typeof testApp>>;
  const cli = () => createAdminCommands(latch.container);

  before(async () => {
    mailbox = await startMailbox();
    latch = await startLatch({ SMTP_URL: mailbox.url });
    app = await testApp(latch);
  });
  after(async () => {
    await latch.close();
    await mailbox.close();
  });

  /** The events written since `mark` (an event id), oldest first. */
  async function eventsSince(mark: string, filter: Record<string, unknown> = {}): Promise<AuditEntry[]> {
    const all = await latch.container.audit.list({ ...filter, limit: 1000 });
    return all.filter((e) => BigInt(e.id) > BigInt(mark)).reverse();
  }
  async function mark(): Promise<string> {
    const [latest] = await latch.container.audit.list({ limit: 1 });
    return latest?.id ?? '0';
  }
  /**
   * Runs the action and returns the one event of `type` it wrote. Events raised by
   * oidc-provider (registration, update, deletion) are recorded from its event emitter, which
   * cannot wait for the insert, so the row may land just after the response: wait for it.
   */
  async function oneEvent(type: string, action: () => Promise<unknown>): Promise<AuditEntry> {
    const before = await mark();
    await action().catch(() => undefined);
    const deadline = Date.now() + 3_000;
    let events = (await eventsSince(before)).filter((e) => e.type === type);
    while (!events.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      events = (await eventsSince(before)).filter((e) => e.type === type);
    }
    expect(events, `events of type ${type}`).to.have.length(1);
    return events[0]!;
  }

  describe('sign-ins', () => {
    it('a password sign-in over HTTP: success and a wrong password, each with the IP and user agent', async () => {
      const account = await createAccount(latch, 'signin-audit@example.com');
      const wrong = await oneEvent('sign_in.password', async () => {
        const pages = new HostedPages(latch);
        pages.agent.set('User-Agent', 'AuditTest/1.0');
        await app.start(pages);
        await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: 'not the password' });
        expect(pages.status).to.equal(400);
      });
      expect(wrong).to.include({ outcome: 'failure', subject: account.id, actor: 'anonymous', userAgent: 'AuditTest/1.0' });
      expect(wrong.ip).to.be.a('string').and.not.equal('');
      expect(wrong.details).to.include({ reason: 'wrong_password', email: account.email });

      const ok = await oneEvent('sign_in.password', async () => {
        const pages = new HostedPages(latch);
        const flow = await app.start(pages);
        await pages.submit(`/interaction/${pages.uid}/login`, { email: account.email, password: account.password });
        if (!pages.callback) await pages.submit(`/interaction/${pages.uid}/consent`, { decision: 'allow' });
        await flow.redeem();
      });
      expect(ok).to.include({ outcome: 'success', actor: account.id, subject: account.id });
    });

    it('an unknown address fails with no subject; a disabled account fails as disabled', async () => {
      const unknown = await oneEvent('sign_in.password', () => latch.container.accounts.authenticate({ email: 'nobody-here@example.com', password: 'whatever-it-is' }, { ip: '203.0.113.7' }));
      expect(unknown).to.include({ outcome: 'failure', subject: null });
      expect(unknown.details).to.include({ reason: 'unknown_account' });

      const account = await createAccount(latch, 'disabled-audit@example.com');
      await latch.container.knex('accounts').where({ id: account.id }).update({ disabled: true });
      const disabled = await oneEvent('sign_in.password', () => latch.container.accounts.authenticate(account, { ip: '203.0.113.8' }));
      expect(disabled).to.include({ outcome: 'failure', subject: account.id });
      expect(disabled.details).to.include({ reason: 'disabled' });
    });

    it('TOTP and recovery codes: success and failure; MFA changes', async () => {
      const { mfa } = latch.container;
      const account = await createAccount(latch, 'mfa-audit@example.com');
      const { secret } = await mfa.startTotpEnrolment(account.id);
      await awayFromStepBoundary(8);
      let recoveryCodes: string[] = [];
      const added = await oneEvent('mfa.totp_added', async () => {
        recoveryCodes = (await mfa.confirmTotp(account.id, await totpCode(secret))).recoveryCodes!;
      });
      expect(added).to.include({ actor: account.id, subject: account.id, outcome: 'success' });

      const uid = () => `audit-${crypto.randomBytes(6).toString('hex')}`;
      const pending = async () => {
        const id = uid();
        expect(await mfa.afterPassword(id, account.id, undefined)).to.equal('second-factor');
        return id;
      };
      const wrongTotp = await oneEvent('sign_in.totp', async () => mfa.verifyTotp(await pending(), '000000', '203.0.113.9'));
      expect(wrongTotp).to.include({ outcome: 'failure', subject: account.id, actor: 'anonymous' });
      const goodTotp = await oneEvent('sign_in.totp', async () => mfa.verifyTotp(await pending(), await totpCode(secret, 1), '203.0.113.9'));
      expect(goodTotp).to.include({ outcome: 'success', actor: account.id });

      const wrongCode = await oneEvent('sign_in.recovery_code', async () => mfa.verifyRecoveryCode(await pending(), 'aaaa-bbbb-cccc', '203.0.113.9'));
      expect(wrongCode.outcome).to.equal('failure');
      const goodCode = await oneEvent('sign_in.recovery_code', async () => mfa.verifyRecoveryCode(await pending(), recoveryCodes[0]!, '203.0.113.9'));
      expect(goodCode.outcome).to.equal('success');

      const passkey = await oneEvent('sign_in.passkey', async () => {
        const id = uid();
        await mfa.passwordlessOptions(id);
        await mfa.passwordlessSignIn(id, '{"id":"bogus","response":{}}', '203.0.113.9');
      });
      expect(passkey.outcome).to.equal('failure');
      expect(passkey.details).to.include({ step: 'passwordless' });

      expect((await oneEvent('mfa.recovery_codes_regenerated', () => mfa.regenerateRecoveryCodes(account.id))).subject).to.equal(account.id);
      expect((await oneEvent('mfa.totp_removed', () => mfa.removeTotp(account.id))).subject).to.equal(account.id);
    });
  });

  describe('passwords', () => {
    it('a password change (and a wrong current password), and a reset from the mailed link', async () => {
      const account = await createAccount(latch, 'password-audit@example.com');
      const refused = await oneEvent('password.changed', () => latch.container.accounts.changePassword(account.id, 'not it at all', 'a brand new passphrase', { ip: '203.0.113.10' }));
      expect(refused).to.include({ outcome: 'failure', subject: account.id });
      const changed = await oneEvent('password.changed', () => latch.container.accounts.changePassword(account.id, account.password, 'a brand new passphrase', { ip: '203.0.113.10' }));
      expect(changed).to.include({ outcome: 'success', actor: account.id });

      await latch.container.accounts.requestPasswordReset(account.email, { ip: '203.0.113.11' });
      const mail = await mailbox.next(account.email, 10_000, 'Reset your password');
      const token = new URL(mailbox.linkIn(mail, '/reset-password')).searchParams.get('token')!;
      const reset = await oneEvent('password.reset', () => latch.container.accounts.resetPassword(token, 'yet another passphrase'));
      expect(reset).to.include({ outcome: 'success', subject: account.id });
    });
  });

  describe('clients', () => {
    it('dynamic registration, update and deletion (RFC 7591/7592) through oidc-provider', async () => {
      let registered: { client_id: string; registration_access_token: string; registration_client_uri: string } | undefined;
      const created = await oneEvent('client.registered', async () => {
        registered = (await request(latch.url).post('/reg').set('User-Agent', 'Registrar/2').send({ client_name: 'Audited App', redirect_uris: ['https://audited.example.com/cb'] }).expect(201)).body;
      });
      expect(created).to.include({ subject: registered!.client_id, clientId: registered!.client_id, actor: 'anonymous', userAgent: 'Registrar/2' });
      expect(created.details).to.include({ name: 'Audited App', dynamic: true });

      const path = new URL(registered!.registration_client_uri).pathname;
      let token = registered!.registration_access_token;
      const updated = await oneEvent('client.updated', async () => {
        const res = await request(latch.url).put(path).set('Authorization', `Bearer ${token}`).send({ client_id: registered!.client_id, client_name: 'Audited App 2', redirect_uris: ['https://audited.example.com/cb'] }).expect(200);
        token = res.body.registration_access_token;
      });
      expect(updated.actor).to.equal(`client:${registered!.client_id}`);
      const deleted = await oneEvent('client.deleted', () => request(latch.url).delete(path).set('Authorization', `Bearer ${token}`).expect(204));
      expect(deleted.subject).to.equal(registered!.client_id);
    });

    it('admin-created, updated and deleted clients, with the CLI as actor', async () => {
      let clientId = '';
      const created = await oneEvent('admin.clients.create', async () => {
        ({ clientId } = await cli()['clients.create']({ name: 'Admin Made', grantTypes: ['client_credentials'] }));
      });
      expect(created).to.include({ actor: 'cli', subject: clientId, outcome: 'success' });
      expect(created.details).to.include({ name: 'Admin Made' });
      expect(JSON.stringify(created.details)).not.to.include('secret');
      expect((await oneEvent('admin.clients.update', () => cli()['clients.update']({ clientId, name: 'Admin Made 2' }))).subject).to.equal(clientId);
      expect((await oneEvent('admin.clients.rotate-secret', () => cli()['clients.rotate-secret']({ clientId }))).subject).to.equal(clientId);
      expect((await oneEvent('admin.clients.delete', () => cli()['clients.delete']({ clientId }))).subject).to.equal(clientId);
      const missing = await oneEvent('admin.clients.delete', () => cli()['clients.delete']({ clientId }));
      expect(missing).to.include({ outcome: 'failure', subject: clientId });
      expect(missing.details).to.include({ error: 'not_found' });
    });
  });

  describe('API keys and signing keys', () => {
    it('create, rotate, revoke and a refused use', async () => {
      const owner = await createAccount(latch, 'keys-audit@example.com');
      let key = { id: '', key: '' };
      const created = await oneEvent('api_key.created', async () => {
        key = await cli()['api-keys.create']({ owner: owner.email, name: 'audited', scopes: ['api:read'] });
      });
      expect(created).to.include({ actor: 'cli', subject: key.id });
      expect(JSON.stringify(created)).not.to.include(key.key);
      const rotated = await oneEvent('api_key.rotated', async () => {
        key = { ...key, ...(await cli()['api-keys.rotate']({ id: key.id, gracePeriod: 0 })) };
      });
      expect(rotated.subject).to.equal(key.id);
      const revoked = await oneEvent('api_key.revoked', () => cli()['api-keys.revoke']({ id: key.id }));
      expect(revoked.subject).to.equal(key.id);
      const refused = await oneEvent('api_key.use_failed', () => request(latch.url).get('/api/v1/whoami').set('X-API-Key', key.key).set('User-Agent', 'KeyUser/1'));
      expect(refused).to.include({ outcome: 'failure', subject: key.id, userAgent: 'KeyUser/1' });
      expect(refused.details).to.include({ reason: 'revoked' });
    });

    it('signing-key events can be recorded by the key service (keys.rotated / keys.retired)', async () => {
      const event = await oneEvent('keys.rotated', () => latch.container.audit.record({ type: 'keys.rotated', actor: 'cli', subject: 'kid-1', details: { use: 'signing' } }));
      expect(event).to.include({ actor: 'cli', subject: 'kid-1' });
      const retired = await eventsSince('0', { type: 'keys' });
      expect(retired.map((e) => e.type)).to.include('keys.rotated');
    });
  });

  describe('admin actions', () => {
    it('each users command is recorded as admin.users.<command>', async () => {
      const person = await createAccount(latch, 'admin-target@example.com');
      for (const command of ['users.disable', 'users.enable', 'users.make-admin', 'users.reset-mfa'] as const) {
        const event = await oneEvent(`admin.${command}`, () => cli()[command]({ user: person.email }));
        expect(event, command).to.include({ actor: 'cli', subject: person.id, outcome: 'success' });
        expect(event.details).to.include({ user: person.email });
      }
      const refused = await oneEvent('admin.users.disable', () => cli()['users.disable']({ user: 'nobody-at-all@example.com' }));
      expect(refused.outcome).to.equal('failure');
      // reads are not admin actions
      const before = await mark();
      await cli()['users.list']({});
      await cli()['audit.list']({});
      expect(await eventsSince(before)).to.deep.equal([]);
    });
  });

  describe('recording and reading', () => {
    it('hostile values are stored cleaned and bounded, never failing the caller', async () => {
      await latch.container.audit.record({ type: 'admin.test\u0000x', actor: 'a\u0000b', subject: 'x'.repeat(5000), details: { note: 'nul\u0000here', big: 'y'.repeat(20_000) } });
      const [event] = await latch.container.audit.list({ limit: 1 });
      expect(event!.type).to.equal('admin.testx');
      expect(event!.actor).to.equal('ab');
      expect(event!.subject!.length).to.be.at.most(512);
      expect(event!.details).to.deep.equal({ truncated: true });
    });

    it('a sign-in still succeeds when its audit event cannot be written', async () => {
      const account = await createAccount(latch, 'audit-down@example.com');
      const { knex } = latch.container;
      // NOT VALID: earlier sign-in events stay; new ones are refused by the database
      await knex.raw("ALTER TABLE audit_events ADD CONSTRAINT refuse_sign_ins CHECK (type <> 'sign_in.password') NOT VALID");
      try {
        const signedIn = await latch.container.accounts.authenticate(account, { ip: '203.0.113.20' });
        expect(signedIn.id).to.equal(account.id);
      } finally {
        await knex.raw('ALTER TABLE audit_events DROP CONSTRAINT refuse_sign_ins');
      }
      expect(await latch.container.audit.list({ subject: account.id, type: 'sign_in' })).to.deep.equal([]);
    });

    it('events recorded in the same turn go in one INSERT; an event the database refuses fails alone', async () => {
      const { knex } = latch.container;
      const tag = crypto.randomBytes(4).toString('hex');
      const inserts: string[] = [];
      const onQuery = (query: { sql: string }) => {
        if (/^insert into "audit_events"/i.test(query.sql)) inserts.push(query.sql);
      };
      const record = (names: string[]) => Promise.all(names.map((name) => latch.container.audit.record({ type: 'test.batched', actor: 'cli', subject: `${name}-${tag}` })));
      const since = await mark();
      knex.on('query', onQuery);
      try {
        await record(['a', 'b', 'c']);
        expect(inserts, 'three events, one statement').to.have.length(1);
        expect(inserts[0]!.split('), (')).to.have.length(3);
        inserts.length = 0;
        await knex.raw(`ALTER TABLE audit_events ADD CONSTRAINT refuse_one CHECK (subject <> 'refused-${tag}') NOT VALID`);
        try {
          await record(['d', 'refused', 'e']);
        } finally {
          await knex.raw('ALTER TABLE audit_events DROP CONSTRAINT refuse_one');
        }
        expect(inserts, 'the three together, refused; then each alone').to.have.length(4);
      } finally {
        knex.removeListener('query', onQuery);
      }
      const written = (await eventsSince(since, { type: 'test.batched' })).map((e) => e.subject);
      expect(written).to.have.members(['a', 'b', 'c', 'd', 'e'].map((name) => `${name}-${tag}`));
      expect(written).to.have.length(5);
    });

    it('filters by type family, actor, outcome and time; refuses bad filters with a clear message', async () => {
      const failures = await latch.container.audit.list({ type: 'sign_in', outcome: 'failure' });
      expect(failures.length).to.be.greaterThan(0);
      expect(failures.every((e) => e.type.startsWith('sign_in.') && e.outcome === 'failure')).to.equal(true);
      expect(await latch.container.audit.list({ since: '2999-01-01' })).to.deep.equal([]);
      expect((await latch.container.audit.list({ until: '1h', actor: 'cli' })).length).to.equal(0);
      expect((await latch.container.audit.list({ since: '1h', actor: 'cli' })).length).to.be.greaterThan(0);
      for (const bad of [{ since: 'yesterday' }, { limit: 0 }, { limit: 5000 }, { outcome: 'maybe' }, { type: 'x\u0000' }, { since: '2026-13-45' }, { since: '1d', until: '2d' }]) {
        const err = await latch.container.audit.list(bad).then(() => undefined, (e: Error & { code?: string }) => e);
        expect(err?.code, JSON.stringify(bad)).to.equal('invalid_input');
      }
      const page = await latch.container.audit.exportPage({ type: 'sign_in' });
      expect(page.total).to.equal(page.events.length);
      expect(page.next).to.equal(undefined);
      const ids = page.events.map((e) => BigInt(e.id));
      expect(ids).to.deep.equal([...ids].sort((a, b) => (a < b ? -1 : 1)));
    });
  });
});
