import { z } from 'zod';
import { route, type ApiRoute } from '../api/api-router.js';
import type { MeService } from './me.service.js';

/** /api/v1 routes about the caller: who am I, profile, sessions, connected apps, deletion. */
export function meRoutes(me: MeService): ApiRoute[] {
  return [
    route({
      method: 'get', path: '/whoami', tag: 'me', scope: 'read', needsAccount: false, summary: 'Who is calling and how it authenticated',
      handler: async ({ principal: p }) => ({ sub: p.sub, authMethod: p.authMethod, scopes: p.scopes, orgId: p.orgId, ...(p.clientId ? { clientId: p.clientId } : {}) }),
    }),
    route({ method: 'get', path: '/me', tag: 'me', scope: 'read', summary: 'Profile, memberships and active organization', handler: ({ principal }) => me.profile(principal.accountId!) }),
    route({
      method: 'patch', path: '/me', tag: 'me', scope: 'write', summary: 'Change the profile',
      body: z.object({ name: z.string().max(200).optional() }).strict(),
      handler: ({ principal, body }) => me.updateProfile(principal.accountId!, body),
    }),
    route({ method: 'delete', path: '/me', tag: 'me', scope: 'write', summary: 'Delete the account and everything it holds', handler: async ({ principal }) => { await me.deleteAccount(principal.accountId!); } }),

    route({ method: 'get', path: '/sessions', tag: 'sessions', scope: 'read', summary: 'Browser sessions of the account', handler: ({ principal }) => me.sessions(principal.accountId!, principal.sessionUid) }),
    route({ method: 'delete', path: '/sessions/:sessionId', tag: 'sessions', scope: 'write', summary: 'End one session', handler: async ({ principal, params }) => { await me.endSession(principal.accountId!, params.sessionId); } }),
    route({ method: 'post', path: '/sessions/end-others', tag: 'sessions', scope: 'write', summary: 'End every session but this one', handler: ({ principal }) => me.endOtherSessions(principal.accountId!, principal.sessionUid) }),
    route({ method: 'post', path: '/sessions/end-all', tag: 'sessions', scope: 'write', summary: 'Sign out everywhere: every session and refresh token', handler: ({ principal }) => me.signOutEverywhere(principal.accountId!) }),

    route({ method: 'get', path: '/consents', tag: 'connected apps', scope: 'read', summary: 'Apps the account has allowed', handler: ({ principal }) => me.connectedApps(principal.accountId!) }),
    route({ method: 'delete', path: '/consents/:clientId', tag: 'connected apps', scope: 'write', summary: "Revoke an app's access and its tokens", handler: async ({ principal, params }) => { await me.revokeApp(principal.accountId!, params.clientId); } }),
  ];
}
