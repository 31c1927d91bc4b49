import type { Config } from '../../lib/config/config.js';
import { smtpProblem } from '../../lib/mail/mail.service.js';
import { runAdminCommand } from './admin-runner.js';

/**
 * `latch doctor`: checks configuration, database, migrations, keys and mail in turn and says in words what is wrong and what to do.
 * Returns false when any check failed.
 */
type Check = { check: string; ok: boolean; detail: string };

export async function runDoctor(getConfig: () => Config, opts: { json: boolean }): Promise<boolean> {
  const checks: Check[] = [];
  let config: Config | undefined;
  try {
    config = getConfig();
    checks.push({ check: 'configuration', ok: true, detail: `issuer ${config.issuer}, ${config.database.kind} database` });
    checks.push({
      check: 'secret',
      ok: !!config.secret || !config.production,
      detail: config.secret ? 'LATCH_SECRET is set; private keys are encrypted at rest' : 'LATCH_SECRET is not set: private keys are stored unencrypted (set it before production)',
    });
  } catch (err) {
    checks.push({ check: 'configuration', ok: false, detail: (err as Error).message });
  }

  if (config) {
    try {
      const { result } = await runAdminCommand(config, 'migrate.status');
      const { pending } = result as { pending: string[] };
      checks.push({ check: 'database', ok: true, detail: 'reachable' });
      checks.push({ check: 'migrations', ok: pending.length === 0 || config.autoMigrate, detail: pending.length ? `${pending.length} pending (${config.autoMigrate ? 'applied at next start' : 'run: latch migrate up'})` : 'up to date' });
    } catch (err) {
      checks.push({ check: 'database', ok: false, detail: `cannot use the database: ${(err as Error).message}` });
    }
    if (checks.every((c) => c.ok)) {
      try {
        const { result } = await runAdminCommand(config, 'keys.list');
        const all = result as Array<{ use: string; status: string; alg: string; activatesAt?: string | null }>;
        const live = all.filter((k) => k.status === 'current');
        const signing = live.filter((k) => k.use === 'signing').map((k) => k.alg);
        const rotating = all.filter((k) => k.status === 'next').map((k) => `${k.use} ${k.alg} key signs from ${k.activatesAt ? new Date(k.activatesAt).toISOString() : 'soon'}`);
        checks.push({
          check: 'keys',
          ok: signing.includes('ES256') && live.some((k) => k.use === 'cookie'),
          detail: `signing: ${signing.join(', ') || 'none'}; cookie keys: ${live.filter((k) => k.use === 'cookie').length}${rotating.length ? `; rotation under way: ${rotating.join(', ')}` : ''}`,
        });
      } catch (err) {
        checks.push({ check: 'keys', ok: false, detail: (err as Error).message });
      }
    }
    if (checks.every((c) => c.ok)) {
      try {
        const { result } = await runAdminCommand(config, 'upstream.check');
        const providers = result as Array<{ id: string; ok: boolean; detail: string }>;
        checks.push({
          check: 'upstream',
          ok: providers.every((p) => p.ok),
          detail: providers.length ? providers.map((p) => (p.ok ? `${p.id} ok` : `${p.id}: ${p.detail}`)).join('; ') : 'no sign-in providers (GITHUB_…, GOOGLE_…, MICROSOFT_…, latch upstream add)',
        });
      } catch (err) {
        checks.push({ check: 'upstream', ok: false, detail: (err as Error).message });
      }
    }
    if (!config.mail.smtpUrl) {
      checks.push({ check: 'mail', ok: true, detail: 'SMTP_URL is not set: mail is written to the log instead of sent' });
    } else {
      const problem = await smtpProblem(config.mail.smtpUrl);
      const host = URL.canParse(config.mail.smtpUrl) ? new URL(config.mail.smtpUrl).host : 'the SMTP server';
      checks.push({ check: 'mail', ok: !problem, detail: problem ?? `SMTP server ${host} answers` });
    }
  }

  if (opts.json) console.log(JSON.stringify({ ok: checks.every((c) => c.ok), checks }, null, 2));
  else for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(13)} ${c.detail}`);
  return checks.every((c) => c.ok);
}
