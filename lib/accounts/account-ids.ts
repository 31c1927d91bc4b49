import crypto from 'node:crypto';

/**
 * Who a token's `sub` names (SECURITY.md A.11). A person's sub is their account id; a client
 * acting for itself (client_credentials) has its client_id as sub; an organization's API key,
 * exchanged for a token, has the organization's id. Account and organization ids are random
 * UUIDs and a client id never has that form (lib/oidc/client-policy.ts refuses it wherever a
 * client is created, registered or loaded), so no client_id can ever equal a person's sub and
 * a resource server reading `sub` cannot mistake a client for a person.
 */
const UUID_FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function newAccountId(): string {
  return crypto.randomUUID();
}

/** Whether a string has the form of an account (or organization) id, whatever its letter case. */
export function hasSubjectIdForm(value: string): boolean {
  return UUID_FORM.test(value);
}
