import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../lib/config/config.js';
import { parseDuration } from '../../lib/config/durations.js';
import { idsAsArguments } from './arguments.js';
import { CommandFailed } from './command-failed.js';
import { currentToken, DEFAULT_CLI_CLIENT_ID, login, LoginError, logout } from './device-login.js';
import { printResult, type Columns } from './output.js';

/**
 * `latch`: the admin command line. Exit codes: 0 ok, 1 the command failed, 2 usage error.
 * Commander (a well-kept parser with generated --help) handles arguments.
 */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

let config: Config | undefined;
function getConfig(): Config {
  config ??= loadConfig();
  return config;
}

const list = (value: string) =>
  value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

function positiveInt(value: string): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return Number(value);
}

function seconds(value: string): number {
  const parsed = parseDuration(value);
  if (parsed === undefined) throw new InvalidArgumentError('expected seconds or a duration like 15m, 12h, 30d');
  return parsed;
}

// The admin side (database, oidc-provider) loads only when an admin command runs, so
// `latch login`/`token`/`logout` start quickly and need none of it.
async function run(command: string, args: Record<string, unknown>, opts: { json?: boolean }, columns?: Columns, human?: (result: unknown) => string) {
  const { runAdminCommand } = await import('./admin-runner.js');
  const { result, via } = await runAdminCommand(getConfig(), command, args);
  printResult(result, { json: !!opts.json, columns, human });
  if (!opts.json && via === 'server' && process.stderr.isTTY) console.error('(done by the running server)');
}

const program = new Command('latch')
  .description('Latch, a self-hosted OAuth 2.1 / OpenID Connect server: admin commands, and device sign-in (login, token, logout)')
  .showHelpAfterError()
  .exitOverride();

const json = () => new Option('--json', 'print JSON');

// migrate
const migrate = program.command('migrate').description('database migrations');
migrate.command('up').description('apply every pending migration').addOption(json()).action((o) => run('migrate.up', {}, o, undefined, (r) => {
  const applied = (r as { applied: string[] }).applied;
  return applied.length ? `applied: ${applied.join(', ')}` : 'already up to date';
}));
migrate.command('down').description('revert the last batch of migrations').addOption(json()).action((o) => run('migrate.down', {}, o, undefined, (r) => {
  const reverted = (r as { reverted: string[] }).reverted;
  return reverted.length ? `reverted: ${reverted.join(', ')}` : 'nothing to revert';
}));
migrate.command('status').description('list applied and pending migrations').addOption(json()).action((o) => run('migrate.status', {}, o, undefined, (r) => {
  const { applied, pending } = r as { applied: string[]; pending: string[] };
  return [...applied.map((m) => `applied  ${m}`), ...pending.map((m) => `pending  ${m}`)].join('\n') || 'no migrations';
}));

// clients
const clientColumns: Columns = [['clientId', 'CLIENT ID'], ['name', 'NAME'], ['source', 'SOURCE'], ['public', 'PUBLIC'], ['grantTypes', 'GRANT TYPES']];
const clients = program.command('clients').description('OAuth clients');
clients
  .command('create')
  .description('create a client; prints its id and, for a confidential client, its secret (shown once)')
  .requiredOption('--name <name>', 'display name shown on the consent page')
  .option('--grant-types <list>', 'authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:device_code', list)
  .option('--redirect-uris <list>', 'exact redirect URIs (comma or space separated)', list)
  .option('--post-logout-redirect-uris <list>', 'exact post-logout redirect URIs', list)
  .option('--scope <scope>', 'space-separated scopes the client may ask for')
  .option('--application-type <type>', 'web or native (default: native when a redirect URI uses a custom scheme)')
  .option('--public', 'a public client (no secret; PKCE only)')
  .addOption(json())
  .action((o) =>
    run('clients.create', {
      name: o.name,
      grantTypes: o.grantTypes,
      redirectUris: o.redirectUris,
      postLogoutRedirectUris: o.postLogoutRedirectUris,
      scope: o.scope,
      applicationType: o.applicationType,
      public: !!o.public,
    }, o, undefined, (r) => {
      const { clientId, clientSecret } = r as { clientId: string; clientSecret?: string };
      return clientSecret ? `client_id:     ${clientId}\nclient_secret: ${clientSecret}\n(the secret is shown only now)` : `client_id: ${clientId}`;
    }),
  );
clients.command('list').description('list clients').addOption(json()).action((o) => run('clients.list', {}, o, clientColumns));
clients.command('show').argument('<client-id>').description('show one client').addOption(json()).action((id, o) => run('clients.show', { clientId: id }, o));
clients
  .command('update')
  .argument('<client-id>')
  .description('change a client')
  .option('--name <name>')
  .option('--redirect-uris <list>', 'replaces the redirect URIs', list)
  .option('--post-logout-redirect-uris <list>', 'replaces the post-logout redirect URIs', list)
  .option('--scope <scope>')
  .addOption(json())
  .action((id, o) => run('clients.update', { clientId: id, name: o.name, redirectUris: o.redirectUris, postLogoutRedirectUris: o.postLogoutRedirectUris, scope: o.scope }, o));
clients.command('delete').argument('<client-id>').description('delete a client with its grants and tokens').addOption(json()).action((id, o) => run('clients.delete', { clientId: id }, o, undefined, () => `deleted ${id}`));
clients.command('rotate-secret').argument('<client-id>').description('issue a new secret; the old one stops working').addOption(json()).action((id, o) => run('clients.rotate-secret', { clientId: id }, o, undefined, (r) => `client_secret: ${(r as { clientSecret: string }).clientSecret}\n(the secret is shown only now)`));

// resources
const resourceColumns: Columns = [['identifier', 'IDENTIFIER'], ['scopes', 'SCOPES'], ['tokenFormat', 'FORMAT'], ['accessTokenTtl', 'TTL'], ['builtIn', 'BUILT IN']];
const resources = program.command('resources').description('resource servers (APIs) that tokens can be issued for');
resources
  .command('add')
  .argument('<identifier>', 'the resource indicator, an absolute URI (RFC 8707)')
  .requiredOption('--scopes <list>', 'scopes the resource accepts, e.g. "read manage"', list)
  .option('--name <name>')
  .option('--format <format>', 'jwt (RFC 9068, default) or opaque')
  .option('--ttl <duration>', 'access token lifetime (seconds or 15m)', seconds)
  .addOption(json())
  .action((identifier, o) => run('resources.add', { identifier, name: o.name, scopes: o.scopes, tokenFormat: o.format, accessTokenTtl: o.ttl }, o, resourceColumns));
resources.command('list').description('list resource servers').addOption(json()).action((o) => run('resources.list', {}, o, resourceColumns));
resources
  .command('update')
  .argument('<identifier>')
  .option('--scopes <list>', 'replaces the scopes', list)
  .option('--name <name>')
  .option('--format <format>', 'jwt or opaque')
  .option('--ttl <duration>', 'access token lifetime', seconds)
  .addOption(json())
  .action((identifier, o) => run('resources.update', { identifier, name: o.name, scopes: o.scopes, tokenFormat: o.format, accessTokenTtl: o.ttl }, o, resourceColumns));
resources.command('remove').argument('<identifier>').addOption(json()).action((identifier, o) => run('resources.remove', { identifier }, o, undefined, () => `removed ${identifier}`));

// registration tokens
const regTokens = program.command('registration-tokens').description('initial access tokens for dynamic registration (LATCH_REGISTRATION=token)');
regTokens
  .command('create')
  .option('--expires-in <duration>', 'lifetime (default 1d)', seconds)
  .addOption(json())
  .action((o) => run('registration-tokens.create', { expiresIn: o.expiresIn }, o, undefined, (r) => `token: ${(r as { token: string }).token}\n(shown only now)`));
regTokens.command('list').addOption(json()).action((o) => run('registration-tokens.list', {}, o, [['prefix', 'PREFIX'], ['expiresAt', 'EXPIRES']]));
regTokens.command('revoke').argument('<token>').addOption(json()).action((token, o) => run('registration-tokens.revoke', { token }, o, undefined, () => 'revoked'));

// keys
const keys = program.command('keys').description('signing and cookie keys');
keys
  .command('list')
  .description('list keys and their state: next (published, signing soon), current, retiring (published until its tokens expire), retired')
  .addOption(json())
  .action((o) => run('keys.list', {}, o, [['kid', 'KID'], ['use', 'USE'], ['alg', 'ALG'], ['status', 'STATUS'], ['createdAt', 'CREATED'], ['activatesAt', 'SIGNS FROM'], ['expiresAt', 'PUBLISHED UNTIL']]));
keys
  .command('rotate')
  .description('make new keys: published now, signing once every instance has them (two LATCH_KEY_REFRESH_INTERVALs); the old keys stay published until their tokens expire')
  .addOption(new Option('--use <use>', 'sig: token signing keys (ES256 and RS256); cookie: cookie signing key').choices(['sig', 'cookie']).default('sig'))
  .addOption(json())
  .action((o) =>
    run('keys.rotate', { use: o.use }, o, undefined, (r) =>
      (r as Array<{ kid: string; use: string; alg: string; activatesAt: string }>)
        .map((k) => `new ${k.use} key ${k.kid} (${k.alg}): published now, signing from ${new Date(k.activatesAt).toISOString()}`)
        .join('\n'),
    ),
  );
keys
  .command('retire')
  .argument('<kid>', 'the key id, from keys list')
  .description('stop publishing a next or retiring key now (tokens it signed stop verifying); the current key cannot be retired')
  .addOption(json())
  .action((kid, o) => run('keys.retire', { kid }, o, undefined, () => `retired ${kid}`));

// API keys
function label(value: string, previous: Record<string, string>): Record<string, string> {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('expected key=value, e.g. project=42');
  const key = value.slice(0, at);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`label ${key} is given twice`);
  return { ...previous, [key]: value.slice(at + 1) };
}
const grace = (value: string) => (value.trim() === '0' ? 0 : seconds(value));
const apiKeyColumns: Columns = [['id', 'ID'], ['prefix', 'PREFIX'], ['name', 'NAME'], ['scopes', 'SCOPES'], ['status', 'STATUS'], ['createdAt', 'CREATED'], ['lastUsedAt', 'LAST USED'], ['expiresAt', 'EXPIRES']];
const showKeyOnce = (r: unknown) => {
  const { id, prefix, key } = r as { id: string; prefix: string; key: string };
  return `id:     ${id}\nprefix: ${prefix}\nkey:    ${key}\n(the key is shown only now)`;
};
const apiKeys = program.command('api-keys').description('API keys of accounts and organizations');
apiKeys
  .command('create')
  .description('create an API key owned by an account or an organization; prints the key once')
  .addOption(new Option('--owner <account>', 'the owning account: its e-mail or id').conflicts('org'))
  .option('--org <org-id>', 'the owning organization')
  .requiredOption('--name <name>', 'what the key is for')
  .requiredOption('--scopes <list>', 'scopes of registered resources, e.g. "read api:read"', list)
  .option('--resource <identifier>', 'limit the key to this resource')
  .option('--label <key=value>', 'a label that narrows the key, reported by introspection (repeatable)', label, {})
  .option('--expires-in <duration>', 'lifetime (default 90d, at most 366d)', seconds)
  .addOption(json())
  .action((o) =>
    run('api-keys.create', {
      owner: o.owner,
      org: o.org,
      name: o.name,
      scopes: o.scopes,
      resource: o.resource,
      labels: Object.keys(o.label).length ? o.label : undefined,
      expiresIn: o.expiresIn,
    }, o, undefined, showKeyOnce),
  );
apiKeys
  .command('list')
  .description('list API keys (all, or one owner’s); never their secrets')
  .addOption(new Option('--owner <account>', 'only this account’s keys: e-mail or id').conflicts('org'))
  .option('--org <org-id>', 'only this organization’s keys')
  .addOption(json())
  .action((o) => run('api-keys.list', { owner: o.owner, org: o.org }, o, apiKeyColumns));
apiKeys.command('revoke').argument('<id>').description('revoke a key; it stops working at once').addOption(json()).action((id, o) => run('api-keys.revoke', { id }, o, undefined, () => `revoked ${id}`));
apiKeys
  .command('rotate')
  .argument('<id>')
  .description('give a key a new secret; the old one keeps working for the grace period')
  .option('--grace <duration>', 'how long the old secret keeps working (default 1h; 0 = not at all)', grace)
  .addOption(json())
  .action((id, o) => run('api-keys.rotate', { id, gracePeriod: o.grace }, o, undefined, showKeyOnce));

// users
const userColumns: Columns = [['id', 'ID'], ['email', 'EMAIL'], ['name', 'NAME'], ['isAdmin', 'ADMIN'], ['disabled', 'DISABLED'], ['emailVerified', 'VERIFIED'], ['lastLoginAt', 'LAST SIGN-IN']];
const users = program.command('users').description('accounts of people');
users
  .command('list')
  .description('list accounts, oldest first')
  .option('--search <text>', 'only accounts whose e-mail or name contains this')
  .option('--limit <n>', 'at most this many (default 100, at most 1000)', positiveInt)
  .addOption(json())
  .action((o) => run('users.list', { search: o.search, limit: o.limit }, o, userColumns));
users.command('show').argument('<account>', 'e-mail address or id').description('show an account: organizations, second factors, sessions').addOption(json()).action((user, o) => run('users.show', { user }, o));
users
  .command('disable')
  .argument('<account>', 'e-mail address or id')
  .description('disable an account: its sessions, grants and tokens end at once and it cannot sign in')
  .addOption(json())
  .action((user, o) => run('users.disable', { user }, o, undefined, (r) => `disabled ${(r as { email: string }).email}; ended ${(r as { ended: number }).ended} sessions, grants and tokens`));
users.command('enable').argument('<account>', 'e-mail address or id').description('let a disabled account sign in again').addOption(json()).action((user, o) => run('users.enable', { user }, o, undefined, (r) => `enabled ${(r as { email: string }).email}`));
users.command('make-admin').argument('<account>', 'e-mail address or id').description('make an account an administrator (the admin console at /admin)').addOption(json()).action((user, o) => run('users.make-admin', { user }, o, undefined, (r) => `${(r as { email: string }).email} is an administrator`));
users.command('reset-mfa').argument('<account>', 'e-mail address or id').description('remove every second factor of an account (it enrols again)').addOption(json()).action((user, o) => run('users.reset-mfa', { user }, o, undefined, (r) => `removed the second factors of ${(r as { email: string }).email}`));
users
  .command('delete')
  .argument('<account>', 'e-mail address or id')
  .description('delete an account with its sessions, tokens and keys (refused while it alone owns an organization with other members)')
  .addOption(json())
  .action((user, o) => run('users.delete', { user }, o, undefined, (r) => `deleted ${(r as { email: string }).email}`));

// organizations
const orgs = program.command('orgs').description('organizations');
orgs
  .command('list')
  .description('list organizations, oldest first')
  .option('--limit <n>', 'at most this many (default 100, at most 1000)', positiveInt)
  .addOption(json())
  .action((o) => run('orgs.list', { limit: o.limit }, o, [['id', 'ID'], ['name', 'NAME'], ['personal', 'PERSONAL'], ['members', 'MEMBERS'], ['createdAt', 'CREATED']]));
orgs.command('show').argument('<org-id>').description('show an organization and its members').addOption(json()).action((orgId, o) => run('orgs.show', { orgId }, o));

// audit log
const auditFilters = (command: Command) =>
  command
    .option('--type <type>', 'an event type, or a family: sign_in, mfa, client, api_key, keys, admin …')
    .option('--actor <actor>', "who acted: an account id, api-key:<id>, client:<id>, cli, system or anonymous")
    .option('--subject <id>', 'what the event was about: an account, client or key id')
    .option('--outcome <outcome>', 'success, failure or throttled')
    .option('--since <when>', 'from this time: a date (2026-11-01, 2026-11-01T12:00:00Z) or a duration ago (24h, 7d)')
    .option('--until <when>', 'before this time, in the same forms');
const filtersOf = (o: Record<string, unknown>) => ({ type: o.type, actor: o.actor, subject: o.subject, outcome: o.outcome, since: o.since, until: o.until });
const audit = program.command('audit').description('the audit log: sign-ins, MFA and password changes, client registrations, keys, admin actions');
auditFilters(audit.command('list').description('the newest events first'))
  .option('--limit <n>', 'at most this many (default 100, at most 1000)', positiveInt)
  .addOption(json())
  .action((o) => run('audit.list', { ...filtersOf(o), limit: o.limit }, o, [['occurredAt', 'TIME'], ['type', 'TYPE'], ['outcome', 'OUTCOME'], ['actor', 'ACTOR'], ['subject', 'SUBJECT'], ['ip', 'IP']]));
auditFilters(audit.command('export').description('every matching event, oldest first, as JSON lines on stdout (progress on stderr)')).action(async (o) => {
  const { openAdminSession } = await import('./admin-runner.js');
  const session = await openAdminSession(getConfig(), 'audit.export');
  try {
    let after: string | undefined;
    let written = 0;
    let total: number | undefined;
    for (;;) {
      const page = (await session.call('audit.export', { ...filtersOf(o), after })) as { events: unknown[]; next?: string; total?: number };
      total ??= page.total;
      const chunk = page.events.map((e) => `${JSON.stringify(e)}\n`).join('');
      if (chunk && !process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      written += page.events.length;
      if (page.next && total) process.stderr.write(`exported ${written} of ${total} events\n`);
      if (!page.next) break;
      after = page.next;
    }
    if (after !== undefined) process.stderr.write(`exported ${written} events\n`);
  } finally {
    await session.close();
  }
});

// upstream identity providers
const upstreamColumns: Columns = [['id', 'ID'], ['name', 'NAME'], ['type', 'TYPE'], ['issuer', 'ISSUER'], ['clientId', 'CLIENT ID'], ['source', 'SOURCE']];
const upstream = program.command('upstream').description('identity providers people can sign in through (GitHub, Google, Microsoft: by environment)');
upstream
  .command('add')
  .argument('<id>', 'short name, also the callback path: ISSUER/upstream/<id>/callback')
  .description('add an OpenID Connect provider (Okta, Auth0, Keycloak, another Latch); its discovery is read from the issuer')
  .requiredOption('--issuer <url>', 'the issuer URL (https)')
  .requiredOption('--client-id <id>', 'the client id Latch has at that provider')
  .addOption(new Option('--client-secret <secret>', 'its secret (or LATCH_UPSTREAM_CLIENT_SECRET in the environment)').env('LATCH_UPSTREAM_CLIENT_SECRET'))
  .option('--name <name>', 'shown on the button: "Continue with <name>"')
  .option('--scope <scope>', 'scopes to ask for (default "openid email profile")')
  .addOption(json())
  .action((id, o) => run('upstream.add', { id, issuer: o.issuer, clientId: o.clientId, clientSecret: o.clientSecret, name: o.name, scope: o.scope }, o, upstreamColumns));
upstream.command('list').description('list the providers (never their secrets)').addOption(json()).action((o) => run('upstream.list', {}, o, upstreamColumns));
upstream
  .command('remove')
  .argument('<id>')
  .description('remove an added provider and unlink every account from it')
  .addOption(json())
  .action((id, o) => run('upstream.remove', { id }, o, undefined, () => `removed ${id}`));

program
  .command('prune')
  .description('delete expired grants, tokens, codes and sessions, and dynamic clients unused for LATCH_DCR_IDLE_DAYS, now')
  .addOption(json())
  .action((o) =>
    run('prune', {}, o, undefined, (r) => {
      const { deleted, idleClients } = r as { deleted: number; idleClients: number };
      return `deleted ${deleted} expired rows and ${idleClients} unused dynamically registered clients`;
    }),
  );

program
  .command('doctor')
  .description('check configuration, database, keys and mail, and say what is wrong')
  .addOption(json())
  .action(async (o) => {
    const { runDoctor } = await import('./doctor.js');
    const ok = await runDoctor(getConfig, { json: !!o.json });
    if (!ok) process.exitCode = EXIT_FAILURE;
  });

// device sign-in for people at a terminal: talks to an issuer over HTTP, needs no database
program
  .command('login')
  .description('sign in to a Latch from this terminal (device flow); tokens are kept for latch token')
  .requiredOption('--issuer <url>', 'the Latch to sign in to, e.g. https://id.example.com')
  .option('--client-id <id>', `a public client allowed the device flow (default: Latch's own, ${DEFAULT_CLI_CLIENT_ID})`)
  .option('--scope <scope>', 'scopes to ask for', 'openid offline_access')
  .option('--resource <url>', 'ask for a token for this resource (RFC 8707)')
  .option('--no-qr', 'do not print a QR code')
  .action((o) => login({ issuer: o.issuer, clientId: o.clientId, scope: o.scope, resource: o.resource, qr: o.qr }).then(() => undefined));
program
  .command('token')
  .description('print a valid access token (refreshed when it is about to expire)')
  .option('--issuer <url>', 'which login (default: the last one)')
  .action(async (o) => console.log(await currentToken(o.issuer)));
program
  .command('logout')
  .description('revoke the refresh token and delete the stored tokens')
  .option('--issuer <url>', 'which login (default: the last one)')
  .action((o) => logout(o.issuer));

try {
  await program.parseAsync(idsAsArguments(process.argv, program));
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof LoginError) {
    console.error(`latch: ${err.message}`);
    process.exitCode = err.usage ? EXIT_USAGE : EXIT_FAILURE;
  } else if (err instanceof ConfigError) {
    console.error(`latch: ${err.message}`);
    process.exitCode = EXIT_USAGE;
  } else if (err instanceof CommandFailed) {
    console.error(`latch: ${err.message}`);
    process.exitCode = err.code === 'invalid_input' ? EXIT_USAGE : EXIT_FAILURE;
  } else {
    console.error(`latch: ${(err as Error).message}`);
    process.exitCode = EXIT_FAILURE;
  }
}
// Everything is closed by now; exit explicitly so a stray timer can never keep the CLI alive.
process.exit(process.exitCode ?? 0);
