import { z } from 'zod';
import { route, type ApiRoute } from '../api/api-router.js';
import type { OrgService } from './orgs.service.js';

/** /api/v1 routes for organizations, members, roles, invitations and the active organization. */
const role = z.enum(['owner', 'admin', 'member']);

export function orgRoutes(orgs: OrgService): ApiRoute[] {
  return [
    route({ method: 'get', path: '/orgs', tag: 'organizations', scope: 'read', summary: "The caller's organizations", handler: ({ principal }) => orgs.list(principal.accountId!) }),
    route({
      method: 'post', path: '/orgs', tag: 'organizations', scope: 'write', status: 201, summary: 'Create an organization (the caller owns it)',
      body: z.object({ name: z.string().min(1).max(100) }).strict(),
      handler: ({ principal, body }) => orgs.create(principal.accountId!, body),
    }),
    route({ method: 'get', path: '/orgs/:orgId', tag: 'organizations', scope: 'read', summary: 'One organization', handler: ({ principal, params }) => orgs.get(principal.accountId!, params.orgId) }),
    route({
      method: 'patch', path: '/orgs/:orgId', tag: 'organizations', scope: 'write', summary: 'Rename (admins and owners)',
      body: z.object({ name: z.string().min(1).max(100) }).strict(),
      handler: ({ principal, params, body }) => orgs.rename(principal.accountId!, params.orgId, body),
    }),
    route({ method: 'delete', path: '/orgs/:orgId', tag: 'organizations', scope: 'write', summary: 'Delete (owners)', handler: async ({ principal, params }) => { await orgs.delete(principal.accountId!, params.orgId); } }),

    route({ method: 'get', path: '/orgs/:orgId/members', tag: 'members', scope: 'read', summary: 'Members and their roles', handler: ({ principal, params }) => orgs.members(principal.accountId!, params.orgId) }),
    route({
      method: 'patch', path: '/orgs/:orgId/members/:accountId', tag: 'members', scope: 'write', summary: "Change a member's role",
      body: z.object({ role }).strict(),
      handler: async ({ principal, params, body }) => { await orgs.changeRole(principal.accountId!, params.orgId, params.accountId, body); },
    }),
    route({ method: 'delete', path: '/orgs/:orgId/members/:accountId', tag: 'members', scope: 'write', summary: 'Remove a member, or leave (your own id)', handler: async ({ principal, params }) => { await orgs.removeMember(principal.accountId!, params.orgId, params.accountId); } }),
    route({
      method: 'post', path: '/orgs/:orgId/transfer', tag: 'members', scope: 'write', summary: 'Hand ownership to another member (owners)',
      body: z.object({ accountId: z.string().min(1).max(64) }).strict(),
      handler: async ({ principal, params, body }) => { await orgs.transferOwnership(principal.accountId!, params.orgId, body); },
    }),

    route({ method: 'get', path: '/orgs/:orgId/invitations', tag: 'invitations', scope: 'read', summary: 'Pending invitations (admins and owners)', handler: ({ principal, params }) => orgs.invitations(principal.accountId!, params.orgId) }),
    route({
      method: 'post', path: '/orgs/:orgId/invitations', tag: 'invitations', scope: 'write', status: 201, summary: 'Invite someone by e-mail with a role',
      body: z.object({ email: z.string().min(3).max(254), role: role.default('member') }).strict(),
      handler: ({ principal, params, body }) => orgs.invite(principal.accountId!, params.orgId, body),
    }),
    route({ method: 'delete', path: '/orgs/:orgId/invitations/:invitationId', tag: 'invitations', scope: 'write', summary: 'Withdraw an invitation', handler: async ({ principal, params }) => { await orgs.revokeInvitation(principal.accountId!, params.orgId, params.invitationId); } }),
    route({
      method: 'post', path: '/invitations/accept', tag: 'invitations', scope: 'write', summary: 'Accept an invitation (signed in with the invited, verified address)',
      body: z.object({ token: z.string().min(1).max(200) }).strict(),
      handler: ({ principal, body }) => orgs.acceptInvitation(principal.accountId!, body.token),
    }),

    route({
      method: 'put', path: '/me/active-organization', tag: 'organizations', scope: 'write', summary: 'Switch the active organization',
      body: z.object({ orgId: z.string().min(1).max(64) }).strict(),
      handler: ({ principal, body }) => orgs.setActive(principal.accountId!, body.orgId),
    }),
  ];
}
