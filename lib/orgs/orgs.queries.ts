import type { Knex } from 'knex';
import { perTurnBatch } from '../db/per-turn-batch.js';
import { listOf, textPerShape } from '../db/statement-text.js';

export type Role = 'owner' | 'admin' | 'member';

export type OrgRow = { id: string; name: string; personal: boolean; created_at: Date; updated_at: Date };
export type MembershipRow = { org_id: string; account_id: string; role: Role; created_at: Date };
export type InvitationRow = {
  id: string;
  org_id: string;
  email: string;
  email_normalized: string;
  role: Role;
  token_hash: string;
  invited_by: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_by: string | null;
  created_at: Date;
};

export type OrgQueries = ReturnType<typeof createOrgQueries>;

export type TokenOrgCandidates = { chosen: string | null; chosen_role: Role | null; active: string | null; active_role: Role | null };

/**
 * For each (account, client) of a batch, in its order (`i`): the organization chosen on that
 * client's consent, the active one, and the account's role in each. Written out rather than
 * built with Knex's query builder, which took about 22 µs to assemble its join and subqueries
 * on every token issued to a person; the written text takes 2 µs to bind.
 */
const tokenOrgCandidates = textPerShape(
  (pairs: number) => `select "k"."i", "c"."org_id" as "chosen",
  (select "m"."role" from "memberships" as "m" where "m"."account_id" = "a"."id" and "m"."org_id" = "c"."org_id") as "chosen_role",
  "a"."active_org_id" as "active",
  (select "m"."role" from "memberships" as "m" where "m"."account_id" = "a"."id" and "m"."org_id" = "a"."active_org_id") as "active_role"
  from (values ${listOf(pairs, (i) => `(${i}, ?, ?)`)}) as "k"("i", "account_id", "client_id")
  join "accounts" as "a" on "a"."id" = "k"."account_id"
  left join "consents" as "c" on "c"."account_id" = "a"."id" and "c"."client_id" = "k"."client_id"`,
);

/** Every org-scoped read goes through the caller's membership, so another org's rows are never found. */
export function createOrgQueries(knex: Knex) {
  const candidates = perTurnBatch<{ accountId: string; clientId: string | null }, TokenOrgCandidates | undefined>(async (pairs) => {
    const result = await knex.raw(tokenOrgCandidates(pairs.length), pairs.flatMap((p) => [p.accountId, p.clientId]));
    const found: Array<TokenOrgCandidates | undefined> = pairs.map(() => undefined);
    for (const { i, ...row } of result.rows as Array<TokenOrgCandidates & { i: number }>) found[i] = row;
    return found;
  });

  return {
    async membership(orgId: string, accountId: string, db: Knex = knex) {
      return db('memberships as m')
        .join('organizations as o', 'o.id', 'm.org_id')
        .where({ 'm.org_id': orgId, 'm.account_id': accountId })
        .first<(OrgRow & { role: Role }) | undefined>('o.*', 'm.role');
    },

    /** For admins: every organization with its member count, oldest first. */
    async listAll(limit: number) {
      return knex('organizations as o')
        .leftJoin('memberships as m', 'm.org_id', 'o.id')
        .groupBy('o.id')
        .orderBy('o.created_at', 'asc')
        .limit(limit)
        .select<Array<OrgRow & { members: string | number }>>('o.*', knex.raw('count(m.account_id) as members'));
    },

    async findOrg(orgId: string): Promise<OrgRow | undefined> {
      return knex<OrgRow>('organizations').where({ id: orgId }).first();
    },

    async listForAccount(accountId: string) {
      return knex('memberships as m')
        .join('organizations as o', 'o.id', 'm.org_id')
        .where({ 'm.account_id': accountId })
        .orderBy([{ column: 'o.personal', order: 'desc' }, { column: 'o.created_at', order: 'asc' }])
        .select<Array<OrgRow & { role: Role }>>('o.*', 'm.role');
    },

    async insertOrg(row: Pick<OrgRow, 'id' | 'name' | 'personal'>, db: Knex = knex) {
      await db('organizations').insert(row);
    },

    async updateOrg(orgId: string, changes: Partial<Pick<OrgRow, 'name'>>) {
      return knex('organizations').where({ id: orgId }).update({ ...changes, updated_at: new Date() });
    },

    async deleteOrg(orgId: string, db: Knex = knex) {
      return db('organizations').where({ id: orgId }).delete();
    },

    async insertMembership(row: Pick<MembershipRow, 'org_id' | 'account_id' | 'role'>, db: Knex = knex) {
      await db('memberships').insert(row).onConflict(['org_id', 'account_id']).ignore();
    },

    async members(orgId: string) {
      return knex('memberships as m')
        .join('accounts as a', 'a.id', 'm.account_id')
        .where({ 'm.org_id': orgId })
        .orderBy('m.created_at')
        .select<Array<{ account_id: string; email: string; name: string | null; role: Role; created_at: Date }>>('m.account_id', 'a.email', 'a.name', 'm.role', 'm.created_at');
    },

    async setRole(orgId: string, accountId: string, role: Role, db: Knex = knex) {
      return db('memberships').where({ org_id: orgId, account_id: accountId }).update({ role });
    },

    async removeMembership(orgId: string, accountId: string, db: Knex = knex) {
      return db('memberships').where({ org_id: orgId, account_id: accountId }).delete();
    },

    /** Locks the org's memberships so owner counts cannot race (no last owner may leave). */
    async lockMemberships(orgId: string, trx: Knex.Transaction) {
      await trx('memberships').where({ org_id: orgId }).forUpdate().select('account_id');
    },

    async countOwners(orgId: string, db: Knex = knex): Promise<number> {
      const [row] = await db('memberships').where({ org_id: orgId, role: 'owner' }).count<{ count: number }[]>('* as count');
      return Number(row?.count ?? 0);
    },

    async countMembers(orgId: string, db: Knex = knex): Promise<number> {
      const [row] = await db('memberships').where({ org_id: orgId }).count<{ count: number }[]>('* as count');
      return Number(row?.count ?? 0);
    },

    async insertInvitation(row: Omit<InvitationRow, 'accepted_at' | 'accepted_by' | 'created_at'>) {
      await knex('invitations').insert(row);
    },

    async pendingInvitations(orgId: string): Promise<InvitationRow[]> {
      return knex<InvitationRow>('invitations').where({ org_id: orgId }).whereNull('accepted_at').andWhere('expires_at', '>', new Date()).orderBy('created_at');
    },

    async deleteInvitation(orgId: string, id: string) {
      return knex('invitations').where({ org_id: orgId, id }).whereNull('accepted_at').delete();
    },

    async findInvitationByTokenHash(tokenHash: string, db: Knex = knex): Promise<InvitationRow | undefined> {
      return db<InvitationRow>('invitations').where({ token_hash: tokenHash }).first();
    },

    /** Spends an invitation for one account; only one caller ever succeeds. */
    async acceptInvitation(id: string, accountId: string, db: Knex = knex): Promise<boolean> {
      const n = await db('invitations').where({ id }).whereNull('accepted_at').andWhere('expires_at', '>', new Date()).update({ accepted_at: new Date(), accepted_by: accountId });
      return n === 1;
    },

    /**
     * In one statement, what a token's organization is chosen from: the organization the
     * person picked when consenting to this client, their active organization, and their role
     * in each (null where they are no longer a member). Undefined for an unknown account.
     * Batched per turn: the tokens concurrent requests issue share the statement.
     */
    async tokenOrgCandidates(accountId: string, clientId: string | undefined): Promise<TokenOrgCandidates | undefined> {
      return candidates({ accountId, clientId: clientId ?? null });
    },

    async activeOrgOf(accountId: string, db: Knex = knex): Promise<string | null> {
      const row = await db('accounts').where({ id: accountId }).first('active_org_id');
      return row?.active_org_id ?? null;
    },

    async setActiveOrg(accountId: string, orgId: string | null, db: Knex = knex) {
      await db('accounts').where({ id: accountId }).update({ active_org_id: orgId });
    },
  };
}
