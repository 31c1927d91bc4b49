import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../lib/config/config.js';
import { parseDuration } from '../../lib/config/durations.js';
import { CommandFailed, runAdminCommand } from './admin-runner.js';
import { runDoctor } from './doctor.js';
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

function seconds(value: string): number {
  const parsed = parseDuration(value);
  if (parsed === undefined) throw new InvalidArgumentError('expected seconds or a duration like 15m, 12h, 30d');
  return parsed;
}

async function run(command: string, args: Record<string, unknown>, opts: { json?: boolean }, columns?: Columns, human?: (result: unknown) => string) {
  const { result, via } = await runAdminCommand(getConfig(), command, args);
  printResult(result, { json: !!opts.json, columns, human });
  if (!opts.json && via === 'server' && process.stderr.isTTY) console.error('(done by the running server)');
}

const program = new Command('latch')
  .description('Latch, a self-hosted OAuth 2.1 / OpenID Connect server: admin commands')
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
  .argument('<kid>')
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

program
  .command('prune')
  .description('delete expired grants, tokens, codes and sessions now')
  .addOption(json())
  .action((o) => run('prune', {}, o, undefined, (r) => `deleted ${(r as { deleted: number }).deleted} expired rows`));

program
  .command('doctor')
  .description('check configuration, database and keys, and say what is wrong')
  .addOption(json())
  .action(async (o) => {
    const ok = await runDoctor(getConfig, { json: !!o.json });
    if (!ok) process.exitCode = EXIT_FAILURE;
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : EXIT_USAGE;
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
