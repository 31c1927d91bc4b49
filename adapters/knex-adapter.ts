import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ClientQueries } from '../lib/clients/clients.queries.js';
import type { OidcPayloadQueries, PayloadRow } from '../lib/oidc/oidc-payloads.queries.js';
import type { PayloadWriteBatch } from '../lib/oidc/payload-write-batch.js';

/**
 * oidc-provider's storage adapter: a thin translation from its model calls to named queries.
 * Clients go to their own table; every other model to oidc_payloads keyed by (model, id).
 */
export type AdapterQueries = { payloads: OidcPayloadQueries; clients: ClientQueries };
/** the write batch of the protocol request in progress (payload-write-batch.ts), if any */
export type CurrentBatch = () => PayloadWriteBatch | undefined;

// PostgreSQL text and jsonb cannot hold U+0000, so no stored id or payload contains one: a
// lookup with it finds nothing, and a request that would store it is refused as malformed.
const hasNul = (value: string) => value.includes('\u0000');
/** The payload as the JSON text to store: serialized once, for the check and for the write. */
function storableJson(payload: AdapterPayload): string {
  const json = JSON.stringify(payload);
  if (json.includes('\\u0000')) throw new errors.InvalidRequest('request parameters must not contain NUL characters');
  return json;
}

function toPayload(row: Pick<PayloadRow, 'payload' | 'consumed_at'> | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  const payload = row.payload as AdapterPayload;
  return row.consumed_at ? { ...payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : payload;
}

class ClientAdapter implements Adapter {
  constructor(private readonly clients: ClientQueries) {}

  async upsert(id: string, payload: AdapterPayload) {
    // only the check: a client's metadata is stored through the clients' own queries
    storableJson(payload);
    // Only dynamic registration (RFC 7591/7592) writes clients through oidc-provider.
    await this.clients.upsert(id, payload as Record<string, unknown>, 'dynamic');
  }

  async find(id: string) {
    if (hasNul(id)) return undefined;
    return (await this.clients.findMetadata(id)) as AdapterPayload | undefined;
  }

  async destroy(id: string) {
    await this.clients.delete(id);
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<undefined> {
    return undefined;
  }

  async revokeByGrantId(): Promise<undefined> {
    return undefined;
  }
}

class PayloadAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly payloads: OidcPayloadQueries,
    private readonly currentBatch: CurrentBatch,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
    const row = {
      model: this.model,
      id,
      payload_json: storableJson(payload),
      grant_id: payload.grantId ?? (this.model === 'Grant' ? id : null),
      client_id: payload.clientId ?? null,
      account_id: payload.accountId ?? null,
      user_code: payload.userCode ?? null,
      uid: payload.uid ?? null,
      expires_at: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
    };
    const batch = this.currentBatch();
    if (batch) batch.upsert(row);
    else await this.payloads.upsert(row);
  }

  async find(id: string) {
    if (hasNul(id)) return undefined;
    const batch = this.currentBatch();
    const pending = batch?.state(this.model, id);
    if (pending === 'deleted') return undefined;
    // a row this request wrote is read back from the database, as written (consumed_at and all)
    if (pending === 'written') await batch!.send();
    else if (batch) {
      const ahead = batch.takeReadAhead(this.model, id);
      if (ahead.found) return toPayload(ahead.row);
    }
    const row = await this.payloads.find(this.model, id);
    // the token's grant came with it: the request's look-up of that grant, next, needs no query
    if (row?.grant && batch) batch.keepGrant(row.grant);
    return toPayload(row);
  }

  async findByUid(uid: string) {
    if (hasNul(uid)) return undefined;
    await this.currentBatch()?.send();
    return toPayload(await this.payloads.findByUid(this.model, uid));
  }

  async findByUserCode(userCode: string) {
    if (hasNul(userCode)) return undefined;
    await this.currentBatch()?.send();
    return toPayload(await this.payloads.findByUserCode(this.model, userCode));
  }

  /**
   * Atomic: of any number of concurrent redemptions exactly one marks the row. A caller that
   * loses the race is presenting a code or refresh token that is already used, which is
   * treated as a replay: the grant is revoked and the request refused.
   */
  async consume(id: string) {
    await this.currentBatch()?.send();
    if (await this.payloads.consume(this.model, id)) return;
    const grantId = await this.payloads.grantIdOf(this.model, id);
    if (grantId) await this.revokeByGrantId(grantId);
    throw new errors.InvalidGrant('grant already used');
  }

  async destroy(id: string) {
    const batch = this.currentBatch();
    if (batch) batch.destroy(this.model, id);
    else await this.payloads.destroy(this.model, id);
  }

  async revokeByGrantId(grantId: string) {
    const batch = this.currentBatch();
    batch?.forgetReadAhead();
    await batch?.send();
    await this.payloads.revokeByGrantId(grantId);
  }
}

export function createAdapterFactory(queries: AdapterQueries, currentBatch: CurrentBatch = () => undefined) {
  return (model: string): Adapter =>
    model === 'Client' ? new ClientAdapter(queries.clients) : new PayloadAdapter(model, queries.payloads, currentBatch);
}
