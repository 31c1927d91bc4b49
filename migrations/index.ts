import type { Knex } from 'knex';
import * as oidcStorage from './20261122_0001_oidc_storage.js';
import * as accounts from './20261122_0002_accounts.js';
import * as mfa from './20261122_0003_mfa.js';
import * as organizations from './20261122_0004_organizations.js';
import * as apiKeys from './20261122_0005_api_keys.js';
import * as auditLog from './20261122_0006_audit_log.js';
import * as upstreamIdentities from './20261122_0007_upstream_identities.js';
import * as keyRotation from './20261122_0008_key_rotation.js';
import * as payloadsKeyedById from './20261124_0009_payloads_keyed_by_id.js';

/**
 * Every migration, in order. Listed here rather than read from the directory so the same
 * list serves `npm start`, the CLI, the tests and a compiled build alike.
 * Never edit a migration after it lands: add a new one.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261122_0001_oidc_storage': oidcStorage,
  '20261122_0002_accounts': accounts,
  '20261122_0003_mfa': mfa,
  '20261122_0004_organizations': organizations,
  '20261122_0005_api_keys': apiKeys,
  '20261122_0006_audit_log': auditLog,
  '20261122_0007_upstream_identities': upstreamIdentities,
  '20261122_0008_key_rotation': keyRotation,
  '20261124_0009_payloads_keyed_by_id': payloadsKeyedById,
};

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    // names sort in the order they must run
    return Object.keys(migrations).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    return migrations[name]!;
  },
};
