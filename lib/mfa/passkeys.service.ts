import crypto from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { COSEALG, decodeClientDataJSON, isoBase64URL } from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import type { ChallengePurpose, MfaQueries, WebAuthnCredentialRow } from './mfa.queries.js';
import { MfaError } from './mfa-errors.js';

/**
 * Passkeys and security keys (WebAuthn, through @simplewebauthn/server). SECURITY.md D.30.
 *
 * - Origin and RP ID are pinned from ISSUER: an assertion made for any other origin fails.
 * - Challenges are single-use: spent (deleted) before the response is verified, bound to the
 *   interaction or session that asked for them, and short-lived.
 * - Passwordless sign-in requires user verification (the authenticator's PIN or biometric),
 *   so the passkey alone is two factors; as a second factor after a password it is not needed.
 * - The signature counter must move forward (checked by the library, then moved with a
 *   compare-and-set so a racing replay cannot pass).
 */
export const PASSKEYS = {
  challengeTtlSeconds: 5 * 60,
  /** what the browser is told to wait; the challenge itself lives a little longer */
  ceremonyTimeoutMs: 2 * 60 * 1000,
  nameMaxLength: 100,
  maxPerAccount: 20,
  /**
   * The key types a passkey may have, offered at registration and required when it is verified.
   * A passkey keeps its algorithm for life, and every instance, and every later or earlier Node
   * a deployment runs, must verify it. SimpleWebAuthn's default adds ML-DSA-44 where the runtime
   * has it in WebCrypto: Node 24 does, as an experimental feature, and Node 22 does not, so a
   * passkey made on a Node 24 instance would not verify on a Node 22 one or after a rollback.
   * Chromium's authenticator takes ML-DSA-44 when it is offered first.
   */
  algorithms: [COSEALG.EdDSA, COSEALG.ES256, COSEALG.RS256] as readonly number[],
} as const;

/** RFC 8176: a device-bound key is 'hwk'; a synced (backup-eligible) passkey is 'swk'. */
export const amrOf = (credential: Pick<WebAuthnCredentialRow, 'device_type'>): 'hwk' | 'swk' => (credential.device_type === 'multiDevice' ? 'swk' : 'hwk');

// Shapes of what the browser posts; the library checks the contents, this bounds the sizes.
const b64url = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9_-]*$/);
const common = { id: b64url(1400), rawId: b64url(1400), type: z.literal('public-key'), clientExtensionResults: z.record(z.string(), z.unknown()).default({}), authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional() };
const registrationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(8192),
    attestationObject: b64url(16384),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().optional(),
    publicKey: b64url(8192).optional(),
    authenticatorData: b64url(8192).optional(),
  }),
});
const authenticationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(8192),
    authenticatorData: b64url(8192),
    signature: b64url(2048),
    userHandle: b64url(512).optional(),
  }),
});

function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw MfaError.passkeyFailed();
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw MfaError.passkeyFailed();
  return parsed.data;
}

function challengeIn(clientDataJSON: string): string {
  let challenge: unknown;
  try {
    challenge = decodeClientDataJSON(clientDataJSON).challenge;
  } catch {
    throw MfaError.passkeyFailed();
  }
  if (typeof challenge !== 'string' || !challenge || challenge.length > 512) throw MfaError.passkeyFailed();
  return challenge;
}

// WebAuthn user handle: the account id (a random UUID, no personal data in it)
const userHandleOf = (accountId: string) => new TextEncoder().encode(accountId);

export type PasskeyService = ReturnType<typeof createPasskeyService>;

export function createPasskeyService(deps: { queries: MfaQueries; issuer: string; rpName: string; log?: { debug(obj: object, msg: string): void } }) {
  const { queries } = deps;
  const issuerUrl = new URL(deps.issuer);
  const origin = issuerUrl.origin;
  const rpID = issuerUrl.hostname;

  async function storeChallenge(purpose: ChallengePurpose, binding: string, accountId: string | null, challenge: string) {
    await queries.replaceChallenge({
      id: crypto.randomUUID(),
      purpose,
      binding,
      account_id: accountId,
      challenge,
      expires_at: new Date(Date.now() + PASSKEYS.challengeTtlSeconds * 1000),
    });
  }

  /** Spends the challenge the response answers; it must have been issued for this binding. */
  async function spendChallenge(purpose: ChallengePurpose, binding: string, clientDataJSON: string, accountId?: string) {
    const spent = await queries.consumeChallenge(binding, purpose, challengeIn(clientDataJSON));
    if (!spent || (accountId !== undefined && spent.account_id !== accountId)) throw MfaError.passkeyFailed();
    return spent.challenge;
  }

  return {
    origin,
    rpID,

    async registrationOptions(account: { id: string; email: string; name?: string | null }, binding: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await queries.listCredentials(account.id);
      if (existing.length >= PASSKEYS.maxPerAccount) throw new MfaError('too_many_passkeys', `An account can have at most ${PASSKEYS.maxPerAccount} passkeys. Remove one first.`);
      const options = await generateRegistrationOptions({
        rpName: deps.rpName,
        rpID,
        userName: account.email,
        userDisplayName: account.name ?? account.email,
        userID: userHandleOf(account.id),
        timeout: PASSKEYS.ceremonyTimeoutMs,
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.credential_id, transports: c.transports })),
        // discoverable when the authenticator can (for passwordless sign-in); UV is asked for
        // at each passwordless sign-in, so a key without a PIN still works as a second factor
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
        supportedAlgorithmIDs: [...PASSKEYS.algorithms],
      });
      await storeChallenge('passkey-enrol', binding, account.id, options.challenge);
      return options;
    },

    async verifyRegistration(accountId: string, binding: string, rawResponse: unknown, rawName: string) {
      const response = parse(registrationSchema, rawResponse) as unknown as RegistrationResponseJSON;
      const expectedChallenge = await spendChallenge('passkey-enrol', binding, response.response.clientDataJSON, accountId);
      let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verification = await verifyRegistrationResponse({ response, expectedChallenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false, supportedAlgorithmIDs: [...PASSKEYS.algorithms] });
      } catch (err) {
        deps.log?.debug({ err }, 'passkey registration refused');
        throw MfaError.passkeyFailed();
      }
      if (!verification.verified) throw MfaError.passkeyFailed();
      const info = verification.registrationInfo;
      if (await queries.findCredential(info.credential.id)) throw new MfaError('passkey_exists', 'This passkey is already registered.');
      const row = {
        id: crypto.randomUUID(),
        account_id: accountId,
        credential_id: info.credential.id,
        public_key: isoBase64URL.fromBuffer(info.credential.publicKey),
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        device_type: info.credentialDeviceType,
        backup_eligible: info.credentialDeviceType === 'multiDevice',
        backed_up: info.credentialBackedUp,
        aaguid: info.aaguid,
        name: rawName.trim().slice(0, PASSKEYS.nameMaxLength) || 'Passkey',
      };
      await queries.insertCredential(row);
      return { id: row.id, name: row.name, amr: amrOf(row) };
    },

    /**
     * Options for an assertion. Passwordless sign-in lists no credentials (the authenticator
     * offers its discoverable ones) and requires user verification.
     */
    async authenticationOptions(purpose: 'passkey-sign-in' | 'passkey-second-factor', binding: string, accountId?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const allowCredentials = accountId ? (await queries.listCredentials(accountId)).map((c) => ({ id: c.credential_id, transports: c.transports })) : undefined;
      const options = await generateAuthenticationOptions({
        rpID,
        timeout: PASSKEYS.ceremonyTimeoutMs,
        allowCredentials,
        userVerification: purpose === 'passkey-sign-in' ? 'required' : 'discouraged',
      });
      await storeChallenge(purpose, binding, accountId ?? null, options.challenge);
      return options;
    },

    /** Verifies an assertion; returns whose passkey it was and the amr value it earns. */
    async verifyAuthentication(purpose: 'passkey-sign-in' | 'passkey-second-factor', binding: string, rawResponse: unknown, accountId?: string) {
      const response = parse(authenticationSchema, rawResponse) as unknown as AuthenticationResponseJSON;
      const expectedChallenge = await spendChallenge(purpose, binding, response.response.clientDataJSON, accountId);
      const credential = await queries.findCredential(response.id);
      if (!credential || (accountId !== undefined && credential.account_id !== accountId)) throw MfaError.passkeyFailed();
      const handle = response.response.userHandle;
      if (handle && handle !== isoBase64URL.fromBuffer(userHandleOf(credential.account_id))) throw MfaError.passkeyFailed();
      let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        verification = await verifyAuthenticationResponse({
          response,
          expectedChallenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          credential: { id: credential.credential_id, publicKey: isoBase64URL.toBuffer(credential.public_key), counter: credential.counter, transports: credential.transports },
          requireUserVerification: purpose === 'passkey-sign-in',
        });
      } catch (err) {
        deps.log?.debug({ err }, 'passkey assertion refused');
        throw MfaError.passkeyFailed(credential.account_id);
      }
      if (!verification.verified) throw MfaError.passkeyFailed(credential.account_id);
      const moved = await queries.recordCredentialUse(
        credential.id,
        { counter: credential.counter },
        { counter: verification.authenticationInfo.newCounter, backedUp: verification.authenticationInfo.credentialBackedUp },
      );
      if (!moved) throw MfaError.passkeyFailed(credential.account_id);
      return { accountId: credential.account_id, amr: amrOf(credential), userVerified: verification.authenticationInfo.userVerified };
    },

    async list(accountId: string) {
      return (await queries.listCredentials(accountId)).map((c) => ({
        id: c.id,
        name: c.name,
        deviceType: c.device_type,
        backedUp: c.backed_up,
        transports: c.transports,
        createdAt: c.created_at,
        lastUsedAt: c.last_used_at,
      }));
    },

    hasAny: async (accountId: string) => (await queries.listCredentials(accountId)).length > 0,

    async rename(accountId: string, id: string, name: string) {
      const trimmed = name.trim().slice(0, PASSKEYS.nameMaxLength);
      if (!trimmed) throw new MfaError('invalid_name', 'Give the passkey a name.');
      return (await queries.renameCredential(accountId, id, trimmed)) === 1;
    },

    remove: async (accountId: string, id: string) => (await queries.deleteCredential(accountId, id)) === 1,
  };
}
