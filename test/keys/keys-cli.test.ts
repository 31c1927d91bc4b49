import { expect } from 'chai';
import request from 'supertest';
import { createAdminCommands } from '../../lib/admin/admin-commands.js';
import { latchCli } from '../support/cli.js';
import { startLatch, type TestLatch } from '../support/latch.js';

/** `latch keys list|rotate|retire`, run as a separate process against a running server. */
describe('latch keys', function () {
  // each command is a fresh node process (a few seconds each under load)
  this.timeout(300_000);
  let latch: TestLatch;
  type Listed = { kid: string; use: string; alg: string; status: string; activatesAt: string | null; expiresAt: string | null };
  const list = async (): Promise<Listed[]> => {
    const res = await latchCli(['keys', 'list', '--json'], latch.env);
    expect(res.code, res.stderr).to.equal(0);
    return JSON.parse(res.stdout);
  };

  before(async () => {
    // the longest interval: nothing activates on its own while the test runs (activation is two intervals away)
    latch = await startLatch({ LATCH_KEY_REFRESH_INTERVAL: '60' });
  });
  after(() => latch.close());

  it('rotates the signing keys: new ones listed as next and published, then refuses a second rotation while one is under way', async () => {
    const rotated = await latchCli(['keys', 'rotate', '--json'], latch.env);
    expect(rotated.code, rotated.stderr).to.equal(0);
    const made = JSON.parse(rotated.stdout) as Listed[];
    expect(made.map((k) => [k.use, k.alg, k.status])).to.have.deep.members([
      ['signing', 'ES256', 'next'],
      ['signing', 'RS256', 'next'],
    ]);
    await latch.container.keyRefresh.runOnce();
    const published = (await request(latch.url).get('/jwks').expect(200)).body.keys.map((k: { kid: string }) => k.kid);
    expect(published).to.include.members(made.map((k) => k.kid));

    const again = await latchCli(['keys', 'rotate'], latch.env);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/rotation is already under way/);

    const keys = await list();
    for (const k of made) expect(keys.find((l) => l.kid === k.kid)).to.include({ status: 'next' });
    const doctor = await latchCli(['doctor', '--json'], latch.env);
    const keysCheck = JSON.parse(doctor.stdout).checks.find((c: { check: string }) => c.check === 'keys');
    expect(keysCheck.ok).to.equal(true);
    expect(keysCheck.detail).to.match(/rotation under way: signing ES256 key signs from \d{4}-/);

    const table = await latchCli(['keys', 'list'], latch.env);
    expect(table.code).to.equal(0);
    expect(table.stdout).to.match(/^KID +USE +ALG +STATUS +CREATED +SIGNS FROM +PUBLISHED UNTIL/);
    expect(table.stdout).to.include(made[0]!.kid);
  });

  it('retire: refuses the current key and an unknown kid (exit 1), cancels a next key (exit 0)', async () => {
    const keys = await list();
    const current = keys.find((k) => k.use === 'signing' && k.status === 'current')!;
    const refused = await latchCli(['keys', 'retire', current.kid], latch.env);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/is the current signing key/);

    const unknown = await latchCli(['keys', 'retire', 'no-such-key'], latch.env);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/was not found/);

    const next = keys.find((k) => k.use === 'signing' && k.status === 'next' && k.alg === 'RS256')!;
    const retired = await latchCli(['keys', 'retire', next.kid], latch.env);
    expect(retired.code, retired.stderr).to.equal(0);
    expect(retired.stdout).to.include(`retired ${next.kid}`);
    expect((await latch.container.keys.listKeys()).find((k) => k.kid === next.kid)!.status).to.equal('retired');
    await latch.container.keyRefresh.runOnce();
    const published = (await request(latch.url).get('/jwks').expect(200)).body.keys.map((k: { kid: string }) => k.kid);
    expect(published).to.not.include(next.kid);
  });

  it('rotates the cookie key with --use cookie', async () => {
    const res = await latchCli(['keys', 'rotate', '--use', 'cookie'], latch.env);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.match(/new cookie key cookie-[\w-]+ \(HS256\): published now, signing from \d{4}-/);
    expect((await latch.container.keys.listKeys()).filter((k) => k.use === 'cookie' && k.status === 'next')).to.have.length(1);
  });

  it('refuses malformed input to the commands (as sent over the admin socket) with invalid_input', async () => {
    const commands = createAdminCommands(latch.container);
    for (const [command, args] of [
      ['keys.rotate', { use: 'enc' }],
      ['keys.rotate', { use: ['sig'] }],
      ['keys.retire', {}],
      ['keys.retire', { kid: 42 }],
      ['keys.retire', { kid: 'k'.repeat(100_000) }],
    ] as const) {
      const err = await (commands[command] as (a: object) => Promise<unknown>)(args).catch((e) => e);
      expect(err, `${command} ${JSON.stringify(args).slice(0, 60)}`).to.include({ code: 'invalid_input', status: 400 });
    }
  });

  it('a usage error exits 2', async () => {
    const badUse = await latchCli(['keys', 'rotate', '--use', 'enc'], latch.env);
    expect(badUse.code).to.equal(2);
    expect(badUse.stderr).to.match(/Allowed choices are sig, cookie/);
  });
});
