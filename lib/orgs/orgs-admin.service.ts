import { invalidInput, notFound } from '../http/errors.js';
import type { OrgQueries } from './orgs.queries.js';

/** What administrators see of organizations (the `latch orgs` commands and the admin console). */
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

export type OrgAdminService = ReturnType<typeof createOrgAdminService>;

export function createOrgAdminService(deps: { queries: OrgQueries }) {
  const { queries } = deps;
  return {
    async list(input: { limit?: unknown } = {}) {
      const limit = input.limit === undefined || input.limit === '' ? LIST_DEFAULT : Number(input.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX) throw invalidInput(`limit must be a whole number from 1 to ${LIST_MAX}`);
      return (await queries.listAll(limit)).map((o) => ({ id: o.id, name: o.name, personal: o.personal, members: Number(o.members), createdAt: o.created_at }));
    },

    async show(orgId: unknown) {
      if (typeof orgId !== 'string' || !orgId || orgId.length > 64 || orgId.includes('\u0000')) throw notFound('organization');
      const org = await queries.findOrg(orgId);
      if (!org) throw notFound(`organization ${orgId}`);
      const members = await queries.members(org.id);
      return {
        id: org.id,
        name: org.name,
        personal: org.personal,
        createdAt: org.created_at,
        members: members.map((m) => ({ accountId: m.account_id, email: m.email, name: m.name, role: m.role, since: m.created_at })),
      };
    },
  };
}
