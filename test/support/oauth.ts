import * as client from 'openid-client';

/** openid-client, allowed to talk to the http://localhost issuer of the tests. */
export const insecure = { execute: [client.allowInsecureRequests] };

export async function discover(issuer: string, clientId: string, secret?: string, metadata: Partial<client.ClientMetadata> = {}) {
  return client.discovery(
    new URL(issuer),
    clientId,
    metadata,
    secret ? client.ClientSecretBasic(secret) : client.None(),
    insecure,
  );
}

export async function registerClient(issuer: string, metadata: Partial<client.ClientMetadata>, initialAccessToken?: string) {
  return client.dynamicClientRegistration(new URL(issuer), metadata, undefined, { ...insecure, ...(initialAccessToken ? { initialAccessToken } : {}) });
}

export { client };
