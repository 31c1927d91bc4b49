import crypto from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * A WebAuthn authenticator in software, for tests that need no browser: an ES256 (P-256) key
 * pair from node:crypto, authenticator data built byte by byte (WebAuthn L3 §6.1), attestation
 * "none" encoded with the CBOR encoder @simplewebauthn/server itself uses, and signatures over
 * authenticatorData ‖ SHA-256(clientDataJSON). Everything a real authenticator would decide —
 * origin, RP ID, the UP/UV flags, the signature counter — can be set per ceremony, so a test
 * can make a correctly signed answer that is wrong in exactly one way.
 */

/** Authenticator data flags (WebAuthn §6.1). */
export const FLAGS = { userPresent: 0x01, userVerified: 0x04, backupEligible: 0x08, backedUp: 0x10, attestedCredential: 0x40 } as const;

export type CeremonyOverrides = {
  /** clientDataJSON.origin (default: the origin the authenticator was made for) */
  origin?: string;
  /** the RP ID whose SHA-256 opens authenticatorData (default: the options' rp id) */
  rpId?: string;
  /** the UP and UV flags (default: both set) */
  userPresent?: boolean;
  userVerified?: boolean;
  /** the signature counter to report (default: the next value) */
  signCount?: number;
  /** clientDataJSON.challenge (default: the options' challenge) */
  challenge?: string;
  /**
   * At registration, present an ML-DSA-44 public key (COSE kty AKP, alg -48, 1,312 bytes of
   * key) instead of the P-256 one, as an authenticator that chose ML-DSA-44 would.
   */
  mlDsa44Key?: boolean;
};

export type AuthenticatorOptions = {
  /** the origin the browser would put in clientDataJSON */
  origin: string;
  /** how much the counter moves per assertion; 0 for an authenticator without a counter */
  counterStep?: number;
  /** the counter reported at registration */
  initialSignCount?: number;
};

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: string | Uint8Array) => crypto.createHash('sha256').update(data).digest();
const uint32 = (n: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
};

export class SoftwareAuthenticator {
  readonly credentialId = crypto.randomBytes(32);
  readonly aaguid = Buffer.alloc(16);
  private readonly keys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly origin: string;
  private readonly counterStep: number;
  /** the counter as the authenticator holds it */
  signCount: number;
  /** the user handle the RP gave at registration (base64url) */
  userHandle?: string;

  constructor(options: AuthenticatorOptions) {
    this.origin = options.origin;
    this.counterStep = options.counterStep ?? 1;
    this.signCount = options.initialSignCount ?? 0;
  }

  get id(): string {
    return b64url(this.credentialId);
  }

  /** The public key as COSE_Key (RFC 9053): EC2, ES256, P-256, x, y; or an ML-DSA-44 one (kty AKP 7, alg -48, pub). */
  private cosePublicKey(o: CeremonyOverrides = {}): Uint8Array {
    if (o.mlDsa44Key) return isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 7], [3, -48], [-1, crypto.randomBytes(1312)]]));
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    return isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
  }

  private authenticatorData(rpId: string, o: CeremonyOverrides, signCount: number, attested?: Uint8Array): Buffer {
    let flags = 0;
    if (o.userPresent ?? true) flags |= FLAGS.userPresent;
    if (o.userVerified ?? true) flags |= FLAGS.userVerified;
    if (attested) flags |= FLAGS.attestedCredential;
    return Buffer.concat([sha256(o.rpId ?? rpId), Buffer.from([flags]), uint32(signCount), ...(attested ? [attested] : [])]);
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, o: CeremonyOverrides): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge: o.challenge ?? challenge, origin: o.origin ?? this.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(): a registration response for these creation options. */
  register(options: { challenge: string; rp?: { id?: string }; user?: { id: string } }, o: CeremonyOverrides = {}) {
    if (!options.rp?.id || !options.user?.id) throw new Error('creation options without rp.id or user.id');
    this.userHandle = options.user.id;
    const attestedCredentialData = Buffer.concat([this.aaguid, Buffer.from([this.credentialId.length >> 8, this.credentialId.length & 0xff]), this.credentialId, this.cosePublicKey(o)]);
    const signCount = o.signCount ?? this.signCount;
    const authData = this.authenticatorData(options.rp.id, o, signCount, attestedCredentialData);
    const attStmt: Map<string, string> = new Map(); // "none": an empty statement
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, string>>([
        ['fmt', 'none'],
        ['attStmt', attStmt],
        ['authData', authData],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64url(this.clientData('webauthn.create', options.challenge, o)),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform' as const,
    };
  }

  /**
   * navigator.credentials.get(): an assertion for these request options, signed with this
   * credential's private key. The counter moves by `counterStep` unless `signCount` is given.
   */
  assert(options: { challenge: string; rpId?: string }, o: CeremonyOverrides = {}) {
    if (!options.rpId) throw new Error('request options without rpId');
    const signCount = o.signCount ?? (this.signCount += this.counterStep);
    const authenticatorData = this.authenticatorData(options.rpId, o, signCount);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, o);
    const signature = crypto.sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), this.keys.privateKey);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform' as const,
    };
  }
}
