import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/change-feed.js';
import { conflict, invalidInput, LatchError, notFound } from '../http/errors.js';
import { SoleOwnerError, type MeService } from '../me/me.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { OidcPayloadQueries } from '../oidc/oidc-payloads.queries.js';
import type { OrgQueries } from '../orgs/orgs.queries.js';
import type { AccountQueries, AccountRow } from './accounts.queries.js';
import { normalizeEmail, toAccount } from './accounts.service.js';

/**
 * What administrators do to accounts (the `latch users` commands and the admin console).
 *
 * Disabling ends everything the account holds at once — sessions, grants, codes, refresh and
 * access tokens — in the same transaction that marks it disabled (SECURITY.md E.34); its
 * sign-ins then fail with the message of a wrong password. Deleting follows the rules of
 * deleting one's own account (lib/me). The last enabled administrator can be neither
 * disabled nor deleted, so the console never locks everyone out.
 */
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

export type AccountAdminService = ReturnType<typeof createAccountAdminService>;

export function createAccountAdminService(deps: {
  knex: Knex;
  changes: ChangeFeed;
  queries: AccountQueries;
  payloads: OidcPayloadQueries;
  orgQueries: OrgQueries;
  me: MeService;
  mfa: MfaService;
}) {
  const { knex, changes, queries, payloads, orgQueries, me, mfa } = deps;

  /** An account named by its e-mail address or its id. */
  async function find(ref: unknown, db: Knex = knex): Promise<AccountRow> {
    if (typeof ref !== 'string' || !ref || ref.length > 320 || /[\u0000-\u001f]/.test(ref)) throw invalidInput('name the account by its e-mail address or id');
    const row = ref.includes('@') ? await queries.findByEmail(normalizeEmail(ref), db) : await queries.findById(ref, db);
    if (!row) throw notFound(`account ${ref}`);
    return row;
  }

  async function refuseLastAdmin(row: AccountRow, doing: string, trx: Knex.Transaction) {
    if (!row.is_admin || row.disabled) return;
    const admins = await queries.enabledAdmins(trx);
    if (admins.length <= 1) throw conflict(`${row.email} is the only enabled administrator and cannot be ${doing}; make another account an administrator first`);
  }

  return {
    find: async (ref: unknown) => toAccount(await find(ref)),

    async list(input: { search?: unknown; limit?: unknown } = {}) {
      const search = input.search === undefined || input.search === '' ? undefined : input.search;
      if (search !== undefined && (typeof search !== 'string' || search.length > 320 || /[\u0000-\u001f]/.test(search))) throw invalidInput('search must be at most 320 printable characters');
      const limit = input.limit === undefined || input.limit === '' ? LIST_DEFAULT : Number(input.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX) throw invalidInput(`limit must be a whole number from 1 to ${LIST_MAX}`);
      return (await queries.list({ search: search as string | undefined, limit })).map(toAccount);
    },

    async show(ref: unknown) {
      const row = await find(ref);
      const [organizations, factors, sessions] = await Promise.all([orgQueries.listForAccount(row.id), mfa.factorsOf(row.id), payloads.sessionsOf(row.id)]);
      return {
        ...toAccount(row),
        passwordChangedAt: row.password_changed_at,
        mfa: { totp: !!factors.totp, passkeys: factors.passkeys.length, recoveryCodes: factors.remainingRecoveryCodes },
        sessions: sessions.length,
        organizations: organizations.map((o) => ({ id: o.id, name: o.name, role: o.role, personal: o.personal })),
      };
    },

    /** Disables the account and ends every session, grant and token it holds, all at once (its API keys fail from the commit on, on every instance). */
    async disable(ref: unknown) {
      return changes.transaction(async (trx, announce) => {
        const row = await find(ref, trx);
        await refuseLastAdmin(row, 'disabled', trx);
        await queries.update(row.id, { disabled: true }, trx);
        await announce('accounts', [row.id]);
        const ended = await payloads.deleteAllForAccount(row.id, trx);
        return { id: row.id, email: row.email, disabled: true, ended };
      });
    },

    async enable(ref: unknown) {
      const row = await find(ref);
      await changes.write('accounts', () => [row.id], (trx) => queries.update(row.id, { disabled: false }, trx));
      return { id: row.id, email: row.email, disabled: false };
    },

    async makeAdmin(ref: unknown) {
      const row = await find(ref);
      await queries.update(row.id, { is_admin: true });
      return { id: row.id, email: row.email, isAdmin: true };
    },

    /** Removes every second factor, for a person who lost theirs (they enrol again). */
    async resetMfa(ref: unknown) {
      const row = await find(ref);
      await mfa.removeAll(row.id);
      return { id: row.id, email: row.email, mfaReset: true };
    },

    /** Deletes the account as its owner could (lib/me): refused while it alone owns an organization with others. */
    async delete(ref: unknown) {
      const row = await find(ref);
      await knex.transaction(async (trx) => refuseLastAdmin(row, 'deleted', trx));
      try {
        await me.deleteAccount(row.id);
      } catch (err) {
        if (!(err instanceof SoleOwnerError)) throw err;
        const names = err.organizations.map((o) => `${o.name} (${o.id})`).join(', ');
        throw new LatchError('sole_owner', `${row.email} is the only owner of organizations that have other members: ${names}. Transfer their ownership or delete them first.`, 409, { organizations: err.organizations });
      }
      return { id: row.id, email: row.email, deleted: true };
    },
  };
}
