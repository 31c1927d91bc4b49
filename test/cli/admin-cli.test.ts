import { expect } from 'chai';
import request from 'supertest';
import { latchCli } from '../support/cli.js';
import { countRows, signUpAccount } from '../support/flow.js';
import { freePort, startLatch, type TestLatch } from '../support/latch.js';
import { startMailbox, type TestMailbox } from '../support/smtp.js';

/**
 * `latch users`, `latch orgs`, `latch audit`, `latch prune` (idle dynamic clients) and the mail
 * check of `latch doctor`, run as separate processes against a running server's database.
 */
describe('latch CLI: users, orgs, audit, prune, doctor', function () {
  this.timeout(120_000);
  let latch: TestLatch;
  let env: Record<string, string>;
  let mailbox: TestMailbox;
  const json = (out: { stdout: string }) => JSON.parse(out.stdout);

  before(async () => {
    mailbox = await startMailbox();
    latch = await startLatch({ SMTP_URL: mailbox.url, LATCH_REGISTRATION: 'open' });
    env = latch.env;
    await signUpAccount(latch, 'root@example.com');
  });
  after(async () => {
    await latch.close();
    await mailbox.close();
  });

  describe('users and orgs', () => {
    it('lists, shows, makes admin, disables, enables and deletes accounts; each change is audited', async () => {
      const { id } = await signUpAccount(latch, 'cli-person@example.com');
      const list = await latchCli(['users', 'list', '--search', 'cli-person', '--json'], env);
      expect(list.code, list.stderr).to.equal(0);
      expect(json(list)).to.have.length(1);
      expect(json(list)[0]).to.include({ id, email: 'cli-person@example.com', isAdmin: false, disabled: false });

      const admin = await latchCli(['users', 'make-admin', 'cli-person@example.com'], env);
      expect(admin.code, admin.stderr).to.equal(0);
      expect(admin.stdout).to.include('cli-person@example.com is an administrator');
      const disabled = await latchCli(['users', 'disable', id, '--json'], env);
      expect(disabled.code, disabled.stderr).to.equal(0);
      expect(json(disabled)).to.include({ id, disabled: true });
      const shown = await latchCli(['users', 'show', 'CLI-Person@example.com', '--json'], env);
      expect(shown.code, shown.stderr).to.equal(0);
      expect(json(shown)).to.include({ id, isAdmin: true, disabled: true, sessions: 0 });
      expect(json(shown).organizations).to.be.an('array');
      expect((await latchCli(['users', 'enable', id], env)).code).to.equal(0);
      expect((await latch.container.accounts.findById(id))!.disabled).to.equal(false);

      const deleted = await latchCli(['users', 'delete', id], env);
      expect(deleted.code, deleted.stderr).to.equal(0);
      expect(deleted.stdout).to.include('deleted cli-person@example.com');
      expect(await countRows(latch, 'accounts', { id })).to.equal(0);

      const audit = await latchCli(['audit', 'list', '--type', 'admin.users', '--actor', 'cli', '--json'], env);
      expect(audit.code, audit.stderr).to.equal(0);
      const types = json(audit).map((e: { type: string }) => e.type);
      expect(types).to.include.members(['admin.users.make-admin', 'admin.users.disable', 'admin.users.enable', 'admin.users.delete']);
      expect(types).not.to.include('admin.users.list');
    });

    it('refuses to delete the only owner of an organization with other members, saying why', async () => {
      const owner = await signUpAccount(latch, 'owner-cli@example.com');
      const member = await signUpAccount(latch, 'member-cli@example.com');
      const org = await latch.container.orgs.create(owner.id, { name: 'Acme CLI' });
      await latch.container.queries.orgs.insertMembership({ org_id: org.id, account_id: member.id, role: 'member' });
      const refused = await latchCli(['users', 'delete', 'owner-cli@example.com'], env);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include('only owner of organizations that have other members');
      expect(refused.stderr).to.include('Acme CLI');
      expect(await countRows(latch, 'accounts', { id: owner.id })).to.equal(1);

      const orgs = await latchCli(['orgs', 'list', '--json'], env);
      expect(orgs.code, orgs.stderr).to.equal(0);
      expect(json(orgs).find((o: { id: string }) => o.id === org.id)).to.include({ name: 'Acme CLI', members: 2, personal: false });
      const shown = await latchCli(['orgs', 'show', org.id, '--json'], env);
      expect(shown.code, shown.stderr).to.equal(0);
      expect(json(shown).members.map((m: { email: string; role: string }) => `${m.email}:${m.role}`)).to.have.members(['owner-cli@example.com:owner', 'member-cli@example.com:member']);
    });

    it('exits 1 for what does not exist and 2 for usage errors and bad values', async () => {
      const cases: Array<[string[], number, string]> = [
        [['users', 'show', 'nobody@example.com'], 1, 'was not found'],
        [['orgs', 'show', 'no-such-org'], 1, 'was not found'],
        [['users', 'show'], 2, "missing required argument 'account'"],
        [['users', 'list', '--limit', '0'], 2, 'whole number'],
        [['audit', 'list', '--since', 'last tuesday'], 2, 'since must be a date'],
      ];
      for (const [args, code, message] of cases) {
        const res = await latchCli(args, env);
        expect(res.code, args.join(' ')).to.equal(code);
        expect(res.stderr, args.join(' ')).to.include(message);
      }
      const help = await latchCli(['users', '--help'], env);
      expect(help.code).to.equal(0);
      expect(help.stdout).to.include('make-admin');
    });
  });

  describe('audit export', () => {
    it('writes every matching event as JSON lines, oldest first, with progress on stderr', async () => {
      const total = 1500;
      const rows = Array.from({ length: total }, (_, n) => ({ type: 'test.bulk', outcome: 'success', actor: 'system', subject: String(n), details: JSON.stringify({ n }) }));
      for (let i = 0; i < rows.length; i += 500) await latch.container.knex('audit_events').insert(rows.slice(i, i + 500));
      const res = await latchCli(['audit', 'export', '--type', 'test'], env);
      expect(res.code, res.stderr).to.equal(0);
      const lines = res.stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(lines).to.have.length(total);
      expect(lines.map((e) => e.subject)).to.deep.equal(rows.map((r) => r.subject));
      expect(lines[0]).to.include.keys('id', 'occurredAt', 'type', 'outcome', 'actor', 'details');
      expect(res.stderr).to.include(`exported 1000 of ${total} events`);
      expect(res.stderr).to.include(`exported ${total} events`);
    });
  });

  describe('dynamic clients: last use and pruning', () => {
    it('notes a client’s last use at most once a minute', async () => {
      const reg = await request(latch.url).post('/reg').send({ client_name: 'M2M dynamic', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }).expect(201);
      const { client_id: clientId, client_secret: secret } = reg.body;
      expect((await latch.container.queries.clients.find(clientId))!.last_used_at).to.equal(null);
      await request(latch.url).post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials' }).expect(200);
      const lastUsed = async () => {
        // marks go out once a second, together
        for (let i = 0; i < 150; i += 1) {
          const at = (await latch.container.queries.clients.find(clientId))!.last_used_at;
          if (at) return at;
          await new Promise((r) => setTimeout(r, 20));
        }
        return null;
      };
      const first = await lastUsed();
      expect(first).to.be.instanceOf(Date);
      await request(latch.url).post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials' }).expect(200);
      await new Promise((r) => setTimeout(r, 100));
      expect((await latch.container.queries.clients.find(clientId))!.last_used_at!.getTime()).to.equal(first!.getTime());
    });

    it('the marks of clients used in the same second go out as one UPDATE', async () => {
      const registered = await Promise.all(
        ['Batch mark A', 'Batch mark B', 'Batch mark C'].map(async (name) => (await request(latch.url).post('/reg').send({ client_name: name, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }).expect(201)).body),
      );
      const updates: string[] = [];
      const listener = (q: { sql: string }) => {
        if (/^update "clients" set "last_used_at"/.test(q.sql)) updates.push(q.sql);
      };
      latch.container.knex.on('query', listener);
      try {
        for (const c of registered) await request(latch.url).post('/token').auth(c.client_id, c.client_secret).type('form').send({ grant_type: 'client_credentials' }).expect(200);
        for (let i = 0; i < 150 && !updates.length; i += 1) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        latch.container.knex.removeListener('query', listener);
      }
      expect(updates).to.have.length(1);
      for (const c of registered) expect((await latch.container.queries.clients.find(c.client_id))!.last_used_at).to.be.instanceOf(Date);
    });

    it('latch prune removes dynamic clients unused for LATCH_DCR_IDLE_DAYS (30), and only those', async () => {
      const register = async (name: string) => (await request(latch.url).post('/reg').send({ client_name: name, redirect_uris: ['https://idle.example.com/cb'] }).expect(201)).body.client_id as string;
      const old = new Date(Date.now() - 31 * 86400_000);
      const idle = await register('Idle never used');
      const idleUsed = await register('Idle used long ago');
      const recent = await register('Used yesterday');
      const fresh = await register('Registered now');
      const { clientId: adminOld } = await latch.container.clients.create({ name: 'Old admin client', grantTypes: ['client_credentials'] });
      const clients = latch.container.knex('clients');
      await clients.clone().whereIn('client_id', [idle, idleUsed, recent, adminOld]).update({ created_at: old });
      await clients.clone().where({ client_id: idleUsed }).update({ last_used_at: new Date(Date.now() - 40 * 86400_000) });
      await clients.clone().where({ client_id: recent }).update({ last_used_at: new Date(Date.now() - 86400_000) });
      await latch.container.knex('oidc_payloads').insert({ model: 'Grant', id: 'idle-grant', payload: JSON.stringify({ clientId: idle }), client_id: idle, grant_id: 'idle-grant' });

      const res = await latchCli(['prune', '--json'], env);
      expect(res.code, res.stderr).to.equal(0);
      expect(json(res).idleClients).to.equal(2);
      const left = (await latch.container.knex('clients').select('client_id')).map((r: { client_id: string }) => r.client_id);
      expect(left).to.include.members([recent, fresh, adminOld]);
      expect(left).not.to.include.members([idle]);
      expect(left).not.to.include(idleUsed);
      expect(await countRows(latch, 'oidc_payloads', { client_id: idle })).to.equal(0);
      const events = await latch.container.audit.list({ type: 'client.deleted', actor: 'system' });
      expect(events.map((e) => e.subject)).to.have.members([idle, idleUsed]);
      expect(events[0]!.details).to.include({ reason: 'idle' });
    });
  });

  describe('doctor checks mail', () => {
    it('says the SMTP server answers', async () => {
      const res = await latchCli(['doctor', '--json'], env);
      const mail = json(res).checks.find((c: { check: string }) => c.check === 'mail');
      expect(mail, res.stdout).to.include({ ok: true });
      expect(mail.detail).to.include('answers');
    });

    it('says in words that nothing listens at the configured SMTP address, and fails', async () => {
      const closed = await freePort();
      const res = await latchCli(['doctor'], { ...env, SMTP_URL: `smtp://127.0.0.1:${closed}` });
      expect(res.code).to.equal(1);
      expect(res.stdout).to.match(/FAIL\s+mail\s+nothing accepts connections at 127\.0\.0\.1:\d+/);
      const bad = await latchCli(['doctor'], { ...env, SMTP_URL: 'http://mail.example.com' });
      expect(bad.code).to.equal(1);
      expect(bad.stdout).to.include('SMTP_URL is not an smtp:// or smtps:// URL');
    });
  });
});
