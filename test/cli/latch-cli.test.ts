import { expect } from 'chai';
import request from 'supertest';
import { latchCli } from '../support/cli.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { latchEnv, startLatch, type TestLatch } from '../support/latch.js';

/** The `latch` command, run as a separate process against the suite's database. */
describe('latch CLI', function () {
  this.timeout(120_000);

  describe('while a server runs on the same database', () => {
    let latch: TestLatch;
    let env: Record<string, string>;
    before(async () => {
      latch = await startLatch();
      env = latch.env;
    });
    after(() => latch.close());

    it('creates, lists, shows, rotates and deletes a client; the server sees each change at once', async () => {
      const created = await latchCli(['clients', 'create', '--name', 'Billing', '--grant-types', 'client_credentials', '--json'], env);
      expect(created.code, created.stderr).to.equal(0);
      const { clientId, clientSecret } = JSON.parse(created.stdout);
      expect(clientId).to.be.a('string');
      expect(clientSecret).to.be.a('string');
      await request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'client_credentials' }).expect(200);

      const list = await latchCli(['clients', 'list', '--json'], env);
      expect(list.code, list.stderr).to.equal(0);
      expect(JSON.parse(list.stdout).map((c: { clientId: string }) => c.clientId)).to.include(clientId);

      const show = await latchCli(['clients', 'show', clientId, '--json'], env);
      expect(show.code, show.stderr).to.equal(0);
      expect(JSON.parse(show.stdout).name).to.equal('Billing');
      expect(show.stdout).not.to.include(clientSecret);

      const rotated = await latchCli(['clients', 'rotate-secret', clientId, '--json'], env);
      expect(rotated.code).to.equal(0);
      const newSecret = JSON.parse(rotated.stdout).clientSecret;
      expect(newSecret).to.not.equal(clientSecret);
      await request(latch.url).post('/token').auth(clientId, clientSecret).type('form').send({ grant_type: 'client_credentials' }).expect(401);
      await request(latch.url).post('/token').auth(clientId, newSecret).type('form').send({ grant_type: 'client_credentials' }).expect(200);

      const deleted = await latchCli(['clients', 'delete', clientId], env);
      expect(deleted.code, deleted.stderr).to.equal(0);
      expect(deleted.stdout).to.include(`deleted ${clientId}`);
      const gone = await latchCli(['clients', 'show', clientId], env);
      expect(gone.code).to.equal(1);
      expect(gone.stderr).to.include('was not found');
    });

    it('adds a resource server that the running server issues JWTs for', async () => {
      const added = await latchCli(['resources', 'add', 'https://api.example.com', '--scopes', 'read manage', '--json'], env);
      expect(added.code, added.stderr).to.equal(0);
      expect(JSON.parse(added.stdout)).to.include({ identifier: 'https://api.example.com', tokenFormat: 'jwt' });
      const list = await latchCli(['resources', 'list', '--json'], env);
      expect(JSON.parse(list.stdout).map((r: { identifier: string }) => r.identifier)).to.include('https://api.example.com');
      const { clientId, clientSecret } = await latch.container.clients.create({ name: 'M2M', grantTypes: ['client_credentials'] });
      const token = await request(latch.url).post('/token').auth(clientId, clientSecret!).type('form').send({ grant_type: 'client_credentials', resource: 'https://api.example.com', scope: 'read' }).expect(200);
      expect(token.body.access_token.split('.')).to.have.length(3);
    });

    it('reports migrations, keys and a healthy setup', async () => {
      const status = await latchCli(['migrate', 'status', '--json'], env);
      expect(status.code).to.equal(0);
      expect(JSON.parse(status.stdout).pending).to.deep.equal([]);
      const keys = await latchCli(['keys', 'list', '--json'], env);
      const current = JSON.parse(keys.stdout).filter((k: { status: string }) => k.status === 'current');
      expect(current.map((k: { alg: string }) => k.alg)).to.include.members(['ES256', 'RS256', 'HS256']);
      const doctor = await latchCli(['doctor'], env);
      expect(doctor.code, doctor.stdout).to.equal(0);
      expect(doctor.stdout).to.match(/ok\s+database/);
    });

    it('exits 2 on usage errors and bad input, 1 on failures, with a message', async () => {
      const missing = await latchCli(['clients', 'create'], env);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.include("required option '--name <name>'");
      const badUri = await latchCli(['resources', 'add', 'not a uri', '--scopes', 'read'], env);
      expect(badUri.code).to.equal(2);
      expect(badUri.stderr).to.include('identifier');
      const badRedirect = await latchCli(['clients', 'create', '--name', 'x', '--redirect-uris', 'http://evil.example/cb'], env);
      expect(badRedirect.code).to.equal(2);
      expect(badRedirect.stderr).to.include('https');
      const unknown = await latchCli(['clients', 'frobnicate'], env);
      expect(unknown.code).to.equal(2);
      const notFound = await latchCli(['resources', 'remove', 'https://nope.example'], env);
      expect(notFound.code).to.equal(1);
      const help = await latchCli(['clients', 'create', '--help'], env);
      expect(help.code).to.equal(0);
      expect(help.stdout).to.include('--redirect-uris');
    });
  });

  describe('with no server running', () => {
    let db: TestDatabase;
    let env: Record<string, string>;
    before(async () => {
      db = await createTestDatabase();
      env = latchEnv(db, 3999);
    });

    it('works on the database directly and leaves it usable by a server afterwards', async () => {
      const created = await latchCli(['clients', 'create', '--name', 'Offline', '--public', '--redirect-uris', 'http://127.0.0.1/cb', '--json'], env);
      expect(created.code, created.stderr).to.equal(0);
      const { clientId } = JSON.parse(created.stdout);
      const latch = await startLatch({}, db);
      try {
        expect((await latch.container.clients.show(clientId)).name).to.equal('Offline');
      } finally {
        await latch.close();
      }
    });

    it('migrate up and down work from the command line', async () => {
      const down = await latchCli(['migrate', 'down', '--json'], env);
      expect(down.code, down.stderr).to.equal(0);
      expect(JSON.parse(down.stdout).reverted.length).to.be.greaterThan(0);
      const pending = await latchCli(['migrate', 'status', '--json'], env);
      expect(JSON.parse(pending.stdout).pending.length).to.be.greaterThan(0);
      const up = await latchCli(['migrate', 'up'], env);
      expect(up.code).to.equal(0);
      expect(up.stdout).to.include('applied');
    });

    if (!usingPostgres()) {
      it('refuses, clearly, while another process holds the embedded database without a socket', async () => {
        const fs = await import('node:fs');
        const path = await import('node:path');
        // a live process (this one) holds the lock but serves no admin socket
        fs.writeFileSync(path.join(env.LATCH_DATA_DIR!, 'latch.lock'), String(process.pid));
        try {
          const res = await latchCli(['clients', 'list'], env);
          expect(res.code).to.equal(1);
          expect(res.stderr).to.include(`in use by process ${process.pid}`);
        } finally {
          fs.rmSync(path.join(env.LATCH_DATA_DIR!, 'latch.lock'));
        }
      });
    }
  });
});
