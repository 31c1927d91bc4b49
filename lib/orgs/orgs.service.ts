import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { ChangeFeed } from '../db/change-feed.js';
import { normalizeEmail, type AccountService } from '../accounts/accounts.service.js';
import { conflict, forbidden, invalidInput, LatchError, notFound } from '../http/errors.js';
import type { MailService } from '../mail/mail.service.js';
import type { OrgQueries, OrgRow, Role } from './orgs.queries.js';

/**
 * Organizations and who may do what in them (SECURITY.md F.39, F.40). Every operation starts
 * from the caller's membership: an organization the caller does not belong to is "not found",
 * whatever its id; a member without the needed role is "forbidden".
 */
export const ROLES: readonly Role[] = ['owner', 'admin', 'member'];
const RANK: Record<Role, number> = { member: 0, admin: 1, owner: 2 };
export const INVITATION_TTL_SECONDS = 7 * 86400;
const INVITATION_TOKEN_BYTES = 32;
const NAME_MAX = 100;

const sha256 = (value: string) => crypto.createHash('sha256').update(value).digest('base64url');

export type Organization = { id: string; name: string; personal: boolean; role: Role; active: boolean; createdAt: Date };

function toOrg(row: OrgRow & { role: Role }, activeOrgId: string | null): Organization {
  return { id: row.id, name: row.name, personal: row.personal, role: row.role, active: row.id === activeOrgId, createdAt: row.created_at };
}

function validName(value: unknown): string {
  const name = typeof value === 'string' ? value.trim() : '';
  if (!name || name.length > NAME_MAX || /[\u0000-\u001f]/.test(name)) throw invalidInput(`name must be 1 to ${NAME_MAX} printable characters`);
  return name;
}

function validRole(value: unknown): Role {
  if (typeof value !== 'string' || !ROLES.includes(value as Role)) throw invalidInput('role must be owner, admin or member');
  return value as Role;
}

export type OrgService = ReturnType<typeof createOrgService>;

export function createOrgService(deps: { knex: Knex; changes: ChangeFeed; queries: OrgQueries; accounts: AccountService; mail: MailService; issuer: string }) {
  const { knex, changes, queries, accounts, mail, issuer } = deps;

  /** The caller's membership of the org, or 404 — the same answer whether it exists or not. */
  async function membershipOrNotFound(accountId: string, orgId: unknown, db: Knex = knex) {
    const membership = typeof orgId === 'string' && orgId.length <= 64 ? await queries.membership(orgId, accountId, db) : undefined;
    if (!membership) throw notFound('organization');
    return membership;
  }

  function requireRole(role: Role, needed: Role) {
    if (RANK[role] < RANK[needed]) throw forbidden(`this needs the ${needed} role in the organization`);
  }

  return {
    /**
     * Gives an account its personal organization (once) and makes one active if none is. Called
     * wherever organizations first matter — token issuance, the consent page, the API — so it
     * happens on the first sign-in whatever the sign-in method.
     */
    async ensurePersonalOrganization(accountId: string) {
      const account = await accounts.findById(accountId);
      if (!account) return;
      const displayName = account.name || account.email;
      await knex.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`personal-org:${accountId}`]);
        const existing = await trx('memberships as m').join('organizations as o', 'o.id', 'm.org_id').where({ 'm.account_id': accountId, 'o.personal': true }).first('o.id');
        let orgId = existing?.id as string | undefined;
        if (!orgId) {
          orgId = crypto.randomUUID();
          await queries.insertOrg({ id: orgId, name: `${displayName}'s organization`.slice(0, NAME_MAX), personal: true }, trx);
          await queries.insertMembership({ org_id: orgId, account_id: accountId, role: 'owner' }, trx);
        }
        if (!(await queries.activeOrgOf(accountId, trx))) await queries.setActiveOrg(accountId, orgId, trx);
      });
    },

    async list(accountId: string): Promise<Organization[]> {
      if (!(await queries.activeOrgOf(accountId))) await this.ensurePersonalOrganization(accountId);
      const [rows, active] = await Promise.all([queries.listForAccount(accountId), queries.activeOrgOf(accountId)]);
      return rows.map((row) => toOrg(row, active));
    },

    async get(accountId: string, orgId: unknown): Promise<Organization> {
      const membership = await membershipOrNotFound(accountId, orgId);
      return toOrg(membership, await queries.activeOrgOf(accountId));
    },

    async create(accountId: string, input: { name?: unknown }): Promise<Organization> {
      const name = validName(input.name);
      const id = crypto.randomUUID();
      await knex.transaction(async (trx) => {
        await queries.insertOrg({ id, name, personal: false }, trx);
        await queries.insertMembership({ org_id: id, account_id: accountId, role: 'owner' }, trx);
      });
      return this.get(accountId, id);
    },

    async rename(accountId: string, orgId: unknown, input: { name?: unknown }): Promise<Organization> {
      const membership = await membershipOrNotFound(accountId, orgId);
      requireRole(membership.role, 'admin');
      await queries.updateOrg(membership.id, { name: validName(input.name) });
      return this.get(accountId, membership.id);
    },

    async delete(accountId: string, orgId: unknown) {
      const membership = await membershipOrNotFound(accountId, orgId);
      requireRole(membership.role, 'owner');
      if (membership.personal) throw invalidInput('a personal organization goes only with its account');
      // announced: the organization's API keys go with it, and caches of them must forget them
      await changes.write('organizations', () => [membership.id], (trx) => queries.deleteOrg(membership.id, trx));
    },

    async members(accountId: string, orgId: unknown) {
      const membership = await membershipOrNotFound(accountId, orgId);
      return (await queries.members(membership.id)).map((m) => ({ accountId: m.account_id, email: m.email, name: m.name, role: m.role, joinedAt: m.created_at }));
    },

    async changeRole(actorId: string, orgId: unknown, targetId: unknown, input: { role?: unknown }) {
      const role = validRole(input.role);
      await knex.transaction(async (trx) => {
        const actor = await membershipOrNotFound(actorId, orgId, trx);
        requireRole(actor.role, 'admin');
        await queries.lockMemberships(actor.id, trx);
        const target = typeof targetId === 'string' ? await queries.membership(actor.id, targetId, trx) : undefined;
        if (!target) throw notFound('member');
        // only owners make or unmake owners
        if ((role === 'owner' || target.role === 'owner') && actor.role !== 'owner') throw forbidden('only an owner can change who is an owner');
        if (target.role === 'owner' && role !== 'owner' && (await queries.countOwners(actor.id, trx)) <= 1) {
          throw conflict('an organization must keep at least one owner');
        }
        await queries.setRole(actor.id, targetId as string, role, trx);
      });
    },

    /** Removes a member (admins and owners), or leaves (anyone); never the last owner. */
    async removeMember(actorId: string, orgId: unknown, targetId: unknown) {
      await knex.transaction(async (trx) => {
        const actor = await membershipOrNotFound(actorId, orgId, trx);
        await queries.lockMemberships(actor.id, trx);
        const self = targetId === actorId;
        if (!self) requireRole(actor.role, 'admin');
        const target = typeof targetId === 'string' ? await queries.membership(actor.id, targetId, trx) : undefined;
        if (!target) throw notFound('member');
        if (actor.personal) throw invalidInput('nobody leaves a personal organization');
        if (!self && target.role === 'owner' && actor.role !== 'owner') throw forbidden('only an owner can remove an owner');
        if (target.role === 'owner' && (await queries.countOwners(actor.id, trx)) <= 1) {
          throw conflict('the last owner cannot leave; transfer ownership or delete the organization');
        }
        await queries.removeMembership(actor.id, targetId as string, trx);
        if ((await queries.activeOrgOf(targetId as string, trx)) === actor.id) await queries.setActiveOrg(targetId as string, null, trx);
      });
    },

    async transferOwnership(actorId: string, orgId: unknown, input: { accountId?: unknown }) {
      await knex.transaction(async (trx) => {
        const actor = await membershipOrNotFound(actorId, orgId, trx);
        requireRole(actor.role, 'owner');
        const targetId = input.accountId;
        const target = typeof targetId === 'string' ? await queries.membership(actor.id, targetId, trx) : undefined;
        if (!target) throw notFound('member');
        if (targetId === actorId) throw invalidInput('you already own this organization');
        await queries.setRole(actor.id, targetId as string, 'owner', trx);
        await queries.setRole(actor.id, actorId, 'admin', trx);
      });
    },

    async setActive(accountId: string, orgId: unknown): Promise<Organization> {
      const membership = await membershipOrNotFound(accountId, orgId);
      await queries.setActiveOrg(accountId, membership.id);
      return this.get(accountId, membership.id);
    },

    async invite(actorId: string, orgId: unknown, input: { email?: unknown; role?: unknown }) {
      const actor = await membershipOrNotFound(actorId, orgId);
      requireRole(actor.role, 'admin');
      if (actor.personal) throw invalidInput('a personal organization cannot invite people; create an organization first');
      const email = accounts.validEmail(input.email);
      const role = input.role === undefined ? 'member' : validRole(input.role);
      if (role === 'owner' && actor.role !== 'owner') throw forbidden('only an owner can invite an owner');
      const token = crypto.randomBytes(INVITATION_TOKEN_BYTES).toString('base64url');
      const invitation = {
        id: crypto.randomUUID(),
        org_id: actor.id,
        email,
        email_normalized: normalizeEmail(email),
        role,
        token_hash: sha256(token),
        invited_by: actorId,
        expires_at: new Date(Date.now() + INVITATION_TTL_SECONDS * 1000),
      };
      await queries.insertInvitation(invitation);
      await mail.send(email, 'invitation', { orgName: actor.name, role, link: `${issuer}/account/invitations?token=${token}`, days: INVITATION_TTL_SECONDS / 86400 });
      return { id: invitation.id, email, role, expiresAt: invitation.expires_at };
    },

    async invitations(actorId: string, orgId: unknown) {
      const actor = await membershipOrNotFound(actorId, orgId);
      requireRole(actor.role, 'admin');
      return (await queries.pendingInvitations(actor.id)).map((i) => ({ id: i.id, email: i.email, role: i.role, expiresAt: i.expires_at, createdAt: i.created_at }));
    },

    async revokeInvitation(actorId: string, orgId: unknown, invitationId: unknown) {
      const actor = await membershipOrNotFound(actorId, orgId);
      requireRole(actor.role, 'admin');
      if (typeof invitationId !== 'string' || !(await queries.deleteInvitation(actor.id, invitationId))) throw notFound('invitation');
    },

    /** Whom an invitation link is for, without spending it. */
    async peekInvitation(token: unknown) {
      if (typeof token !== 'string' || token.length > 200) return undefined;
      const invitation = await queries.findInvitationByTokenHash(sha256(token));
      if (!invitation || invitation.accepted_at || invitation.expires_at <= new Date()) return undefined;
      const org = await knex('organizations').where({ id: invitation.org_id }).first('name');
      return { email: invitation.email, role: invitation.role, orgName: org?.name as string };
    },

    /** Joins with an invitation: only the invited, verified address; once; before it expires. */
    async acceptInvitation(accountId: string, token: unknown): Promise<Organization> {
      const invalid = new LatchError('invalid_invitation', 'This invitation has expired, was already used, or is not for this account.', 400);
      if (typeof token !== 'string' || token.length > 200) throw invalid;
      const account = await accounts.findById(accountId);
      const orgId = await knex.transaction(async (trx) => {
        const invitation = await queries.findInvitationByTokenHash(sha256(token), trx);
        if (!invitation || !account || normalizeEmail(account.email) !== invitation.email_normalized) throw invalid;
        if (!account.emailVerified) throw new LatchError('email_unverified', 'Confirm your e-mail address before accepting this invitation.', 403);
        if (!(await queries.acceptInvitation(invitation.id, accountId, trx))) throw invalid;
        await queries.insertMembership({ org_id: invitation.org_id, account_id: accountId, role: invitation.role }, trx);
        return invitation.org_id;
      });
      return this.get(accountId, orgId);
    },

    /**
     * The organization a token names: the one chosen for that app on the consent page while the
     * person still belongs to it, else their active organization.
     */
    async orgForToken(accountId: string, clientId: string | undefined): Promise<{ orgId: string; role: Role } | undefined> {
      let found = await queries.tokenOrgCandidates(accountId, clientId);
      if (!found) return undefined;
      if (found.chosen && found.chosen_role) return { orgId: found.chosen, role: found.chosen_role };
      if (!found.active) {
        // no active organization yet (an account from before organizations): give it its own
        await this.ensurePersonalOrganization(accountId);
        found = await queries.tokenOrgCandidates(accountId, clientId);
      }
      return found?.active && found.active_role ? { orgId: found.active, role: found.active_role } : undefined;
    },

    /** Organizations an account alone owns that still have other members: to hand over before deletion. */
    async soleOwnedWithOthers(accountId: string) {
      const owned = (await queries.listForAccount(accountId)).filter((o) => o.role === 'owner' && !o.personal);
      const blocking = [];
      for (const org of owned) {
        if ((await queries.countOwners(org.id)) === 1 && (await queries.countMembers(org.id)) > 1) blocking.push({ id: org.id, name: org.name });
      }
      return blocking;
    },

    /** Deletes the organizations the account alone belongs to (used when the account is deleted); returns their ids, for the caller to announce. */
    async deleteSoleOrganizations(accountId: string, trx: Knex.Transaction): Promise<string[]> {
      const deleted: string[] = [];
      for (const org of await trx('memberships').where({ account_id: accountId }).select('org_id')) {
        if ((await queries.countMembers(org.org_id, trx)) === 1 && (await queries.deleteOrg(org.org_id, trx))) deleted.push(org.org_id);
      }
      return deleted;
    },
  };
}
