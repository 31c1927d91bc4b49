import { expect } from 'chai';
import request from 'supertest';
import { latchCli } from '../support/cli.js';
import { createPerson, type Person } from '../support/people.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** `latch api-keys create|list|revoke|rotate`, run as a separate process against a running server. */
describe('latch api-keys', function () {
  // each command is a fresh node process (a few seconds each under load)
  this.timeout(300_000);
  let latch: TestLatch;
  let alice: Person;
  let orgId: string;
  const whoami = (key: string) => request(latch.url).get('/api/v1/whoami').set('X-API-Key', key);

  before(async () => {
    latch = await startLatch();
    alice = await createPerson(latch, 'alice@example.com');
    orgId = (await latch.container.orgs.create(alice.id, { name: 'Acme' })).id;
  });
  after(() => latch.close());

  it('creates keys for an account (by e-mail) and an organization, printed once as JSON; they work at once', async () => {
    const personal = await latchCli(['api-keys', 'create', '--owner', alice.email, '--name', 'ci', '--scopes', 'api:read', '--label', 'project=42', '--label', 'env=prod', '--expires-in', '30d', '--json'], latch.env);
    expect(personal.code, personal.stderr).to.equal(0);
    const created = JSON.parse(personal.stdout);
    expect(created).to.include({ accountId: alice.id, orgId: null, name: 'ci', status: 'active' });
    expect(created.labels).to.deep.equal({ project: '42', env: 'prod' });
    expect(created.key).to.match(/^latch_/);
    expect((await whoami(created.key).expect(200)).body).to.deep.equal({ sub: alice.id, authMethod: 'api-key', scopes: ['api:read'], orgId: null });

    const byId = await latchCli(['api-keys', 'create', '--owner', alice.id, '--name', 'by id', '--scopes', 'api:read', '--json'], latch.env);
    expect(byId.code, byId.stderr).to.equal(0);

    const org = await latchCli(['api-keys', 'create', '--org', orgId, '--name', 'bot', '--scopes', 'api:read api:write', '--json'], latch.env);
    expect(org.code, org.stderr).to.equal(0);
    const orgKey = JSON.parse(org.stdout);
    expect(orgKey).to.include({ orgId, accountId: null, createdBy: null });
    expect((await whoami(orgKey.key).expect(200)).body).to.include({ sub: orgId, orgId });

    const human = await latchCli(['api-keys', 'create', '--org', orgId, '--name', 'human', '--scopes', 'api:read'], latch.env);
    expect(human.code).to.equal(0);
    expect(human.stdout).to.match(/key: +latch_\w+/);
    expect(human.stdout).to.include('shown only now');
  });

  it('lists keys with --json (all, one account’s, one organization’s), never with their secrets', async () => {
    const all = await latchCli(['api-keys', 'list', '--json'], latch.env);
    expect(all.code, all.stderr).to.equal(0);
    const keys = JSON.parse(all.stdout);
    expect(keys.length).to.equal(4);
    expect(keys.every((k: object) => !('key' in k))).to.equal(true);
    const mine = JSON.parse((await latchCli(['api-keys', 'list', '--owner', alice.email, '--json'], latch.env)).stdout);
    expect(mine.map((k: { name: string }) => k.name).sort()).to.deep.equal(['by id', 'ci']);
    const org = JSON.parse((await latchCli(['api-keys', 'list', '--org', orgId, '--json'], latch.env)).stdout);
    expect(org.map((k: { name: string }) => k.name).sort()).to.deep.equal(['bot', 'human']);
    const table = await latchCli(['api-keys', 'list'], latch.env);
    expect(table.stdout).to.match(/^ID +PREFIX +NAME/);
    expect(table.stdout).to.include(org[0].prefix);
  });

  it('rotates (old secret valid for --grace only) and revokes', async () => {
    const made = JSON.parse((await latchCli(['api-keys', 'create', '--owner', alice.email, '--name', 'rotating', '--scopes', 'api:read', '--json'], latch.env)).stdout);
    const graceful = await latchCli(['api-keys', 'rotate', made.id, '--grace', '1h', '--json'], latch.env);
    expect(graceful.code, graceful.stderr).to.equal(0);
    const second = JSON.parse(graceful.stdout);
    await whoami(made.key).expect(200);
    await whoami(second.key).expect(200);
    const immediate = await latchCli(['api-keys', 'rotate', made.id, '--grace', '0', '--json'], latch.env);
    expect(immediate.code, immediate.stderr).to.equal(0);
    const third = JSON.parse(immediate.stdout);
    await whoami(second.key).expect(401);
    await whoami(third.key).expect(200);

    const revoked = await latchCli(['api-keys', 'revoke', made.id], latch.env);
    expect(revoked.code, revoked.stderr).to.equal(0);
    expect(revoked.stdout).to.include(`revoked ${made.id}`);
    await whoami(third.key).expect(401);
    const again = await latchCli(['api-keys', 'rotate', made.id, '--json'], latch.env);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include('revoked');
  });

  it('exits 2 on usage errors and invalid input, 1 when the named thing does not exist; writes nothing', async () => {
    const before = (await latch.container.apiKeys.admin.list({})).length;
    const usage: Array<[string[], string]> = [
      [['api-keys', 'create', '--owner', alice.email, '--scopes', 'api:read'], "required option '--name <name>'"],
      [['api-keys', 'create', '--owner', alice.email, '--org', orgId, '--name', 'x', '--scopes', 'api:read'], 'cannot be used with'],
      [['api-keys', 'create', '--name', 'x', '--scopes', 'api:read'], 'exactly one owner'],
      [['api-keys', 'create', '--owner', alice.email, '--name', 'x', '--scopes', 'nonsense'], 'not a scope'],
      [['api-keys', 'create', '--owner', alice.email, '--name', 'x', '--scopes', 'api:read', '--label', 'novalue'], 'key=value'],
      [['api-keys', 'create', '--owner', alice.email, '--name', 'x', '--scopes', 'api:read', '--label', 'a b=c'], 'label'],
      [['api-keys', 'create', '--owner', alice.email, '--name', 'x', '--scopes', 'api:read', '--expires-in', '999d'], 'expiresIn'],
      [['api-keys', 'rotate', 'some-id', '--grace', 'soon'], 'duration'],
    ];
    for (const [args, message] of usage) {
      const res = await latchCli(args, latch.env);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).to.equal(2);
      expect(res.stderr, args.join(' ')).to.include(message);
    }
    const failures: Array<[string[], string]> = [
      [['api-keys', 'create', '--owner', 'nobody@example.com', '--name', 'x', '--scopes', 'api:read'], 'was not found'],
      [['api-keys', 'revoke', '00000000-0000-0000-0000-000000000000'], 'was not found'],
    ];
    for (const [args, message] of failures) {
      const res = await latchCli(args, latch.env);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).to.equal(1);
      expect(res.stderr, args.join(' ')).to.include(message);
    }
    expect((await latch.container.apiKeys.admin.list({})).length).to.equal(before);
  });
});
