import type { ClientQueries } from '../clients/clients.queries.js';

/**
 * The client `latch login` uses when given no --client-id: public (no secret a terminal could
 * keep), device flow and refresh tokens only, so no redirect URI exists to abuse. The person
 * still approves the device and consents on Latch's pages.
 */
export const CLI_CLIENT_ID = 'latch-cli';

const metadata = {
  client_id: CLI_CLIENT_ID,
  client_name: 'Latch command line',
  application_type: 'native',
  grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'none',
};

/** Creates the client when it is missing (first start, or an admin deleted it). */
export async function ensureCliClient(clients: ClientQueries) {
  if (!(await clients.find(CLI_CLIENT_ID))) await clients.upsert(CLI_CLIENT_ID, metadata, 'system');
}
