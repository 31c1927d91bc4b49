import type { ClientQueries } from '../clients/clients.queries.js';

/**
 * The account pages sign people in like any app would — through /auth and the hosted pages —
 * as this first-party client. It is public (PKCE), may only return to /account/callback, and
 * needs no consent.
 */
export const ACCOUNT_CLIENT_ID = 'latch-account';

export function accountClientRedirectUri(issuer: string) {
  return `${issuer}/account/callback`;
}

/** Creates the client, or brings its redirect URI up to date when ISSUER changed. */
export async function ensureAccountClient(clients: ClientQueries, issuer: string) {
  const metadata = {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'Your account',
    application_type: 'web',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [accountClientRedirectUri(issuer)],
    token_endpoint_auth_method: 'none',
    scope: 'openid',
  };
  const existing = await clients.find(ACCOUNT_CLIENT_ID);
  if (!existing || JSON.stringify(existing.metadata.redirect_uris) !== JSON.stringify(metadata.redirect_uris)) {
    await clients.upsert(ACCOUNT_CLIENT_ID, metadata, 'system');
  }
}
