import crypto, { type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { AccountService } from '../accounts/accounts.service.js';
import type { AuditService } from '../audit/audit.service.js';
import { parseDuration } from '../config/durations.js';
import type { Sealer } from '../crypto/seal.js';
import { createUseMarker } from '../db/use-marks.js';
import { conflict, forbidden, invalidInput, notFound } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { OrgService } from '../orgs/orgs.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import {
  DEFAULT_GRACE_SECONDS,
  DEFAULT_TTL_SECONDS,
  displayPrefix,
  hashApiKey,
  LAST_USED_RESOLUTION_SECONDS,
  MAX_GRACE_SECONDS,
  MAX_TTL_SECONDS,
  MIN_TTL_SECONDS,
  newApiKey,
  newPublicId,
  parseApiKey,
  sameHash,
} from './api-key-secrets.js';
import type { ApiKeyOwner, ApiKeyQueries, ApiKeyRow } from './api-keys.queries.js';

/**
 * API keys (SECURITY.md F.38): who may make, see, revoke and rotate them, and the check of a
 * presented key. The owner always comes from the authenticated caller (or, for the admin CLI,
 * the operator's explicit choice), never from a request body. Every use reads the key's row, so
 * a revocation holds on every instance at once. Creation, revocation, rotation and refused uses
 * go to the audit log (lib/audit), never with a secret.
 */
const NAME_MAX = 100;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$/;
const LABEL_VALUE = /^[\x20-\x7E]{0,256}$/;
const MAX_LABELS = 20;
const MAX_SCOPES = 50;
/** revoked or expired keys stay listed this long, then the prune job deletes them */
const KEEP_DEAD_KEYS_SECONDS = 30 * 86400;

function seconds(min: number, max: number, what: string) {
  return z.union([z.number().int(), z.string().max(16)]).transform((value, ctx) => {
    const parsed = typeof value === 'number' ? value : parseDuration(value);
    if (parsed === undefined || parsed < min || parsed > max) {
      ctx.addIssue({ code: 'custom', message: `${what} must be between ${min} and ${max} seconds (or a duration like 1h, 30d)` });
      return z.NEVER;
    }
    return parsed;
  });
}

/** The input of a new key, as the JSON API takes it (the CLI maps its flags onto it). */
export const createApiKeySchema = z
  .object({
    name: z.string().trim().min(1).max(NAME_MAX).regex(/^[^\u0000-\u001f\u007f]*$/, 'must be printable'),
    scopes: z.array(z.string().regex(SCOPE_TOKEN, 'each scope must be a scope token')).min(1).max(MAX_SCOPES),
    resource: z.string().min(1).max(2048).optional(),
    labels: z
      .record(z.string().regex(LABEL_KEY, 'label keys are 1-63 letters, digits, _ . - /'), z.string().regex(LABEL_VALUE, 'label values are at most 256 printable characters'))
      .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)
      .optional(),
    expiresIn: seconds(MIN_TTL_SECONDS, MAX_TTL_SECONDS, 'expiresIn').optional(),
  })
  .strict();

export const rotateApiKeySchema = z.object({ gracePeriod: seconds(0, MAX_GRACE_SECONDS, 'gracePeriod').optional() }).strict();

type CreateInput = z.input<typeof createApiKeySchema>;
type RotateInput = z.input<typeof rotateApiKeySchema>;

/** Who is asking. A Principal of the API fits; the CLI acts as the operator. */
export type ApiKeyActor =
  | { authMethod: 'session' | 'bearer' | 'api-key'; accountId?: string; boundToOrg?: string; apiKeyId?: string }
  | { authMethod: 'admin' };

export type ApiKeyView = {
  id: string;
  prefix: string;
  name: string;
  accountId: string | null;
  orgId: string | null;
  scopes: string[];
  resource: string | null;
  labels: Record<string, string>;
  status: 'active' | 'expired' | 'revoked';
  createdAt: Date;
  createdBy: string | null;
  lastUsedAt: Date | null;
  expiresAt: Date;
  rotatedAt: Date | null;
  previousSecretExpiresAt: Date | null;
  revokedAt: Date | null;
};

/** A presented key that checked out: what Latch's API, introspection and token exchange act on. */
export type VerifiedApiKey = {
  id: string;
  prefix: string;
  /** the owner: the account, or for an organization's key the organization */
  sub: string;
  accountId: string | null;
  orgId: string | null;
  scopes: string[];
  resource: string | null;
  labels: Record<string, string>;
  createdAt: Date;
  expiresAt: Date;
};

export type ApiKeyUse = 'api' | 'introspection' | 'token_exchange';

function toView(row: ApiKeyRow, now = new Date()): ApiKeyView {
  return {
    id: row.id,
    prefix: displayPrefix(row.public_id),
    name: row.name,
    accountId: row.account_id,
    orgId: row.org_id,
    scopes: row.scopes,
    resource: row.resource,
    labels: row.labels,
    status: row.revoked_at ? 'revoked' : row.expires_at <= now ? 'expired' : 'active',
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    rotatedAt: row.rotated_at,
    previousSecretExpiresAt: row.previous_expires_at && row.previous_expires_at > now ? row.previous_expires_at : null,
    revokedAt: row.revoked_at,
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw invalidInput(`${issue.path.join('.') || 'input'}: ${issue.message}`);
  }
  return result.data;
}

const ownerLog = (owner: ApiKeyOwner) => ('accountId' in owner ? { accountId: owner.accountId } : { orgId: owner.orgId });
/** Who did it, as the audit log names actors: the CLI, an API key, or an account. */
const auditActor = (actor: ApiKeyActor, fallback?: string) =>
  actor.authMethod === 'admin' ? 'cli' : actor.authMethod === 'api-key' && actor.apiKeyId ? `api-key:${actor.apiKeyId}` : (actor.accountId ?? fallback);

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

export function createApiKeyService(deps: { knex: Knex; queries: ApiKeyQueries; resources: ResourceService; orgs: OrgService; accounts: AccountService; sealer: Sealer; log: Logger; audit?: Pick<AuditService, 'record'> }) {
  const { knex, queries, resources, orgs, accounts, sealer, log } = deps;
  const audit = async (event: Parameters<AuditService['record']>[0]) => deps.audit?.record(event);
  // last_used_at moves at most once a minute per key, in batches off the request's path
  const uses = createUseMarker({
    resolutionMs: LAST_USED_RESOLUTION_SECONDS * 1000,
    write: (ids, now, notSince) => queries.touchLastUsed(ids, now, notSince),
    onError: (err) => log.warn({ err }, 'could not note an API key use'),
  });

  /**
   * The HMAC key: 32 random bytes made once per deployment and kept in `keys`, sealed with
   * LATCH_SECRET like the signing keys. Chosen over deriving it from LATCH_SECRET so that one
   * code path serves deployments with and without a secret, and keys made before a secret is
   * set keep working after.
   */
  let hmacKey: Promise<KeyObject> | undefined;
  function loadHmacKey(): Promise<KeyObject> {
    hmacKey ??= knex
      .transaction(async (trx) => {
        let row = await queries.findHmacKey(trx);
        if (!row) {
          await queries.lockHmacKeyCreation(trx);
          row = await queries.findHmacKey(trx);
        }
        if (!row) {
          const kid = `api-key-hmac-${crypto.randomUUID()}`;
          row = { kid, sealed_private: sealer.seal(crypto.randomBytes(32).toString('base64url'), `key:${kid}`) };
          await queries.insertHmacKey(row, trx);
        }
        // imported once: an HMAC given the key's bytes imports them again on every call
        return crypto.createSecretKey(Buffer.from(sealer.open(row.sealed_private, `key:${row.kid}`), 'base64url'));
      })
      .catch((err: unknown) => {
        hmacKey = undefined;
        throw err;
      });
    return hmacKey;
  }

  /**
   * Which owner's keys the actor is asking about, or an error: another organization (or one the
   * actor is not in) is 404, a member without admin or owner is 403. An organization's own API
   * key may look at (and revoke) its organization's keys.
   */
  async function ownerFor(actor: ApiKeyActor, orgId: string | undefined): Promise<ApiKeyOwner> {
    if (actor.authMethod === 'admin') throw new Error('admin commands name the owner themselves');
    if (orgId === undefined) {
      if (!actor.accountId) throw forbidden('only a person has personal API keys');
      return { accountId: actor.accountId };
    }
    if (actor.boundToOrg !== undefined) {
      if (actor.boundToOrg !== orgId) throw notFound('organization');
      return { orgId };
    }
    if (!actor.accountId) throw notFound('organization');
    const org = await orgs.get(actor.accountId, orgId);
    if (org.role !== 'owner' && org.role !== 'admin') throw forbidden("an organization's API keys are managed by its admins and owners");
    return { orgId: org.id };
  }

  /** Keys make no keys: a leaked key must not be able to outlive its own revocation. */
  function refuseKeyMintingByKey(actor: ApiKeyActor) {
    if (actor.authMethod === 'api-key') throw forbidden('an API key cannot create or rotate API keys; sign in instead');
  }

  async function validatedScopes(input: { scopes: string[]; resource?: string }) {
    const scopes = [...new Set(input.scopes)];
    if (input.resource !== undefined) {
      const resource = await resources.find(input.resource);
      if (!resource) throw invalidInput(`resource: ${input.resource} is not a registered resource`);
      const unknown = scopes.filter((s) => !resource.scopes.includes(s));
      if (unknown.length) throw invalidInput(`scopes: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a scope' : 'are not scopes'} of ${resource.identifier}`);
    } else {
      const known = new Set((await resources.list()).flatMap((r) => r.scopes));
      const unknown = scopes.filter((s) => !known.has(s));
      if (unknown.length) throw invalidInput(`scopes: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a scope' : 'are not scopes'} of any registered resource`);
    }
    return scopes;
  }

  async function insertKey(owner: ApiKeyOwner, actor: ApiKeyActor, rawInput: unknown) {
    const input = parse(createApiKeySchema, rawInput);
    const scopes = await validatedScopes(input);
    const publicId = newPublicId();
    const key = newApiKey(publicId);
    const row = {
      id: crypto.randomUUID(),
      public_id: publicId,
      account_id: 'accountId' in owner ? owner.accountId : null,
      org_id: 'orgId' in owner ? owner.orgId : null,
      created_by: actor.authMethod === 'admin' ? null : (actor.accountId ?? null),
      name: input.name,
      secret_hash: hashApiKey(await loadHmacKey(), key),
      scopes,
      resource: input.resource ?? null,
      labels: input.labels ?? {},
      expires_at: new Date(Date.now() + (input.expiresIn ?? DEFAULT_TTL_SECONDS) * 1000),
    };
    await queries.insert(row);
    const view = toView((await queries.findById(row.id))!);
    await audit({ type: 'api_key.created', actor: auditActor(actor), subject: row.id, details: { prefix: view.prefix, owner: ownerLog(owner), scopes, resource: row.resource, expiresAt: row.expires_at } });
    // the only time the key itself leaves the server
    return { ...view, key };
  }

  async function revokeKey(owner: ApiKeyOwner | undefined, actor: ApiKeyActor, keyId: unknown) {
    if (typeof keyId !== 'string' || keyId.length > 64) throw notFound('API key');
    const row = owner ? await queries.findForOwner(owner, keyId) : await queries.findById(keyId);
    if (!row) throw notFound('API key');
    if (await queries.revoke(row)) {
      await audit({ type: 'api_key.revoked', actor: auditActor(actor), subject: row.id, details: { prefix: displayPrefix(row.public_id), owner: ownerLog(row.account_id ? { accountId: row.account_id } : { orgId: row.org_id! }) } });
    }
    return toView((await queries.findById(row.id))!);
  }

  async function rotateKey(owner: ApiKeyOwner | undefined, actor: ApiKeyActor, keyId: unknown, rawInput: unknown) {
    const { gracePeriod = DEFAULT_GRACE_SECONDS } = parse(rotateApiKeySchema, rawInput);
    if (typeof keyId !== 'string' || keyId.length > 64) throw notFound('API key');
    const hmac = await loadHmacKey();
    const result = await queries.transaction(async (trx, changed) => {
      const row = await queries.findByIdForUpdate(keyId, trx);
      const mine = row && (!owner || ('accountId' in owner ? row.account_id === owner.accountId : row.org_id === owner.orgId));
      if (!row || !mine) throw notFound('API key');
      if (row.revoked_at) throw conflict('a revoked key cannot be rotated');
      if (row.expires_at <= new Date()) throw conflict('an expired key cannot be rotated; create a new one');
      const key = newApiKey(row.public_id);
      const now = new Date();
      // a second rotation within the grace period ends the older secret at once
      await queries.rotate(row.id, {
        secret_hash: hashApiKey(hmac, key),
        previous_secret_hash: gracePeriod > 0 ? row.secret_hash : null,
        previous_expires_at: gracePeriod > 0 ? new Date(Math.min(now.getTime() + gracePeriod * 1000, row.expires_at.getTime())) : null,
        rotated_at: now,
      }, trx);
      await changed(row.public_id);
      return { key, row: (await queries.findById(row.id, trx))! };
    });
    const view = toView(result.row);
    await audit({ type: 'api_key.rotated', actor: auditActor(actor), subject: view.id, details: { prefix: view.prefix, owner: ownerLog(view.accountId ? { accountId: view.accountId } : { orgId: view.orgId! }), previousValidUntil: view.previousSecretExpiresAt } });
    return { ...view, key: result.key };
  }

  return {
    /** The caller's own keys (`orgId` undefined) or an organization's. */
    async list(actor: ApiKeyActor, orgId?: string): Promise<ApiKeyView[]> {
      const owner = await ownerFor(actor, orgId);
      const now = new Date();
      return (await queries.listForOwner(owner)).map((row) => toView(row, now));
    },

    async create(actor: ApiKeyActor, orgId: string | undefined, input: CreateInput | unknown) {
      const owner = await ownerFor(actor, orgId);
      refuseKeyMintingByKey(actor);
      return insertKey(owner, actor, input);
    },

    async revoke(actor: ApiKeyActor, orgId: string | undefined, keyId: unknown) {
      return revokeKey(await ownerFor(actor, orgId), actor, keyId);
    },

    async rotate(actor: ApiKeyActor, orgId: string | undefined, keyId: unknown, input: RotateInput | unknown) {
      const owner = await ownerFor(actor, orgId);
      refuseKeyMintingByKey(actor);
      return rotateKey(owner, actor, keyId, input);
    },

    /** The operator's commands (the `latch` CLI): the owner is named, and must exist. */
    admin: {
      async create(input: { owner?: unknown; org?: unknown } & Record<string, unknown>) {
        const { owner: ownerRef, org, ...rest } = input;
        return insertKey(await adminOwner(ownerRef, org), { authMethod: 'admin' }, rest);
      },
      async list(input: { owner?: unknown; org?: unknown }) {
        const now = new Date();
        if (input.owner === undefined && input.org === undefined) return (await queries.listAll()).map((row) => toView(row, now));
        return (await queries.listForOwner(await adminOwner(input.owner, input.org))).map((row) => toView(row, now));
      },
      revoke: (keyId: unknown) => revokeKey(undefined, { authMethod: 'admin' }, keyId),
      rotate: (keyId: unknown, input: unknown) => rotateKey(undefined, { authMethod: 'admin' }, keyId, input),
    },

    /**
     * Checks a presented key: its form, then its hash against the current (and, during a grace
     * period, the previous) secret in constant time, then revocation, expiry and the owner.
     * Every refusal looks the same to the caller; the log says why.
     */
    async verify(presented: string, via: ApiKeyUse, ip?: string): Promise<VerifiedApiKey | undefined> {
      const refuse = async (reason: string, fields: { prefix?: string; keyId?: string } = {}): Promise<undefined> => {
        // a string that is not even shaped like a key is not a key's use: logged, not audited
        if (reason === 'malformed') log.info({ reason, via, ip }, 'API key refused');
        else await audit({ type: 'api_key.use_failed', outcome: 'failure', subject: fields.keyId, ip, details: { reason, via, prefix: fields.prefix } });
        return undefined;
      };
      const parsed = parseApiKey(presented);
      if (!parsed) return refuse('malformed');
      const prefix = displayPrefix(parsed.publicId);
      const hash = hashApiKey(await loadHmacKey(), presented);
      const row = await queries.findByPublicId(parsed.publicId);
      if (!row) return refuse('unknown', { prefix });
      const now = new Date();
      const current = sameHash(hash, row.secret_hash);
      const previous = sameHash(hash, row.previous_secret_hash);
      const inGrace = !!row.previous_expires_at && row.previous_expires_at > now;
      const fields = { prefix, keyId: row.id };
      if (!current && !previous) return refuse('wrong_secret', fields);
      if (!current && !inGrace) return refuse('rotated_out', fields);
      if (row.revoked_at) return refuse('revoked', fields);
      if (row.expires_at <= now) return refuse('expired', fields);
      if (row.owner_disabled) return refuse('owner_disabled', fields);
      uses.mark(row.id);
      return {
        id: row.id,
        prefix,
        sub: (row.account_id ?? row.org_id)!,
        accountId: row.account_id,
        orgId: row.org_id,
        // the row is shared with every later check of this key: callers get their own copies
        scopes: [...row.scopes],
        resource: row.resource,
        labels: { ...row.labels },
        createdAt: row.created_at,
        expiresAt: row.expires_at,
      };
    },

    /** Writes the use marks not yet written (on shutdown). */
    flushUseMarks: () => uses.flush(),

    /** For the prune job: one batch of keys revoked or expired more than 30 days ago. */
    async deleteStaleBatch(limit: number) {
      return queries.deleteStaleBatch(new Date(Date.now() - KEEP_DEAD_KEYS_SECONDS * 1000), limit);
    },
  };

  async function adminOwner(ownerRef: unknown, org: unknown): Promise<ApiKeyOwner> {
    if ((ownerRef === undefined) === (org === undefined)) throw invalidInput('name exactly one owner: --owner <account e-mail or id> or --org <organization id>');
    if (ownerRef !== undefined) {
      if (typeof ownerRef !== 'string' || !ownerRef || ownerRef.length > 254) throw invalidInput('owner must be an account e-mail or id');
      const account = ownerRef.includes('@') ? await accounts.findByEmail(ownerRef) : await accounts.findById(ownerRef);
      if (!account) throw notFound(`account ${ownerRef}`);
      return { accountId: account.id };
    }
    if (typeof org !== 'string' || !org || org.length > 64) throw invalidInput('org must be an organization id');
    if (!(await queries.organizationExists(org))) throw notFound(`organization ${org}`);
    return { orgId: org };
  }
}
