import { route, type ApiRoute } from '../api/api-router.js';
import { createApiKeySchema, rotateApiKeySchema, type ApiKeyService } from './api-keys.service.js';

/**
 * /api/v1 routes for API keys: the caller's own (`/api-keys`) and an organization's
 * (`/orgs/:orgId/api-keys`, for its admins and owners, or the organization's own key). The
 * owner is the path and the caller, never the body; the key itself is in the answer to create
 * and rotate only.
 */
const TAG = 'API keys';

export function apiKeyRoutes(apiKeys: ApiKeyService): ApiRoute[] {
  return [
    route({ method: 'get', path: '/api-keys', tag: TAG, scope: 'read', summary: "The caller's own API keys (never their secrets)", handler: ({ principal }) => apiKeys.list(principal) }),
    route({
      method: 'post', path: '/api-keys', tag: TAG, scope: 'write', status: 201, summary: 'Create a personal API key; the answer holds the key, shown only this once',
      body: createApiKeySchema,
      handler: ({ principal, body }) => apiKeys.create(principal, undefined, body),
    }),
    route({ method: 'delete', path: '/api-keys/:keyId', tag: TAG, scope: 'write', summary: 'Revoke one of your keys, at once', handler: async ({ principal, params }) => { await apiKeys.revoke(principal, undefined, params.keyId); } }),
    route({
      method: 'post', path: '/api-keys/:keyId/rotate', tag: TAG, scope: 'write', summary: 'New secret for one of your keys; the old one works for gracePeriod (default 1h)',
      body: rotateApiKeySchema,
      handler: ({ principal, params, body }) => apiKeys.rotate(principal, undefined, params.keyId, body),
    }),

    route({ method: 'get', path: '/orgs/:orgId/api-keys', tag: TAG, scope: 'read', needsAccount: false, summary: "An organization's API keys (admins and owners)", handler: ({ principal, params }) => apiKeys.list(principal, params.orgId) }),
    route({
      method: 'post', path: '/orgs/:orgId/api-keys', tag: TAG, scope: 'write', status: 201, needsAccount: false, summary: "Create an organization's API key (admins and owners); shown only this once",
      body: createApiKeySchema,
      handler: ({ principal, params, body }) => apiKeys.create(principal, params.orgId, body),
    }),
    route({ method: 'delete', path: '/orgs/:orgId/api-keys/:keyId', tag: TAG, scope: 'write', needsAccount: false, summary: "Revoke an organization's key", handler: async ({ principal, params }) => { await apiKeys.revoke(principal, params.orgId, params.keyId); } }),
    route({
      method: 'post', path: '/orgs/:orgId/api-keys/:keyId/rotate', tag: TAG, scope: 'write', needsAccount: false, summary: "New secret for an organization's key; the old one works for gracePeriod",
      body: rotateApiKeySchema,
      handler: ({ principal, params, body }) => apiKeys.rotate(principal, params.orgId, params.keyId, body),
    }),
  ];
}
