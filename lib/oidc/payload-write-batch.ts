import Provider from 'oidc-provider';
import { payloadKey, type FoundRow, type OidcPayloadQueries, type WrittenRow } from './oidc-payloads.queries.js';

/**
 * The oidc_payloads writes of one protocol request, sent to the database as one statement
 * when the request's work is done and before its answer leaves. Resuming a sign-in saves
 * the grant, the session and the authorization code and deletes the interaction: four
 * round trips and four commits one after another, made one — and all-or-nothing.
 *
 * Nothing outside the request can know the rows it writes before the answer carries their
 * ids, so deferring them to the end of the request changes nothing another request can see.
 * Within the request, a look-up of a row written earlier sends the pending writes first, and
 * so does every write that must see the database as it is (consume, revoke). A write made
 * after the batch was sent (an event handler that outlives the request) goes out on its own.
 *
 * It also holds the grants read with the request's tokens (a token look-up returns its
 * grant's row from the same statement), for the request's next look-up of that grant:
 * oidc-provider reads a token's grant right after the token, which made a second round trip.
 * A grant read ahead is handed out once, and forgotten when the request writes, deletes or
 * revokes it; so it is what the database held at the token's look-up, within this request.
 */
const BATCH = Symbol('latch.payloadWrites');

export class PayloadWriteBatch {
  /** the last write per row: an upsert's row, or null for a delete */
  private readonly pending = new Map<string, { model: string; id: string; row: WrittenRow | null }>();
  /** grants read with a token, by payloadKey('Grant', id); a `row` of undefined: the grant was gone or expired */
  private readonly readAhead = new Map<string, FoundRow['grant']>();
  private closed = false;

  constructor(private readonly payloads: OidcPayloadQueries) {}

  /** Keeps the grant a token look-up returned, for this request's look-up of it. */
  keepGrant(grant: NonNullable<FoundRow['grant']>) {
    const key = payloadKey('Grant', grant.id);
    if (!this.pending.has(key)) this.readAhead.set(key, grant);
  }

  /** The grant read ahead for (model, id), once: `found` false where none was. */
  takeReadAhead(model: string, id: string): { found: false } | { found: true; row: NonNullable<FoundRow['grant']>['row'] } {
    const key = payloadKey(model, id);
    const grant = this.readAhead.get(key);
    if (!grant) return { found: false };
    this.readAhead.delete(key);
    return { found: true, row: grant.row };
  }

  /** A revocation by grant: no grant read ahead is handed out after it. */
  forgetReadAhead() {
    this.readAhead.clear();
  }

  get open() {
    return !this.closed;
  }

  upsert(row: WrittenRow) {
    this.readAhead.delete(payloadKey(row.model, row.id));
    this.pending.set(payloadKey(row.model, row.id), { model: row.model, id: row.id, row });
  }

  destroy(model: string, id: string) {
    this.readAhead.delete(payloadKey(model, id));
    this.pending.set(payloadKey(model, id), { model, id, row: null });
  }

  /** 'deleted' for a row this request deleted, 'written' for one it wrote, else undefined */
  state(model: string, id: string): 'deleted' | 'written' | undefined {
    const entry = this.pending.get(payloadKey(model, id));
    return entry ? (entry.row ? 'written' : 'deleted') : undefined;
  }

  /** Sends what is pending (one statement) and starts over; a no-op when nothing is. */
  async send() {
    if (!this.pending.size) return;
    const entries = [...this.pending.values()];
    this.pending.clear();
    await this.payloads.writeMany(
      entries.flatMap((e) => (e.row ? [e.row] : [])),
      entries.flatMap((e) => (e.row ? [] : [{ model: e.model, id: e.id }])),
    );
  }

  /** The last send, at the end of the request; later writes go to the database directly. */
  async close() {
    this.closed = true;
    await this.send();
  }

  /** The request failed: what is pending is dropped, later writes go to the database directly. */
  abandon() {
    this.closed = true;
    this.pending.clear();
  }
}

/** The batch of the protocol request in progress, if any (oidc-provider's request context). */
export function currentPayloadWriteBatch(): PayloadWriteBatch | undefined {
  const batch = (Provider.ctx as { [BATCH]?: PayloadWriteBatch } | undefined)?.[BATCH];
  return batch?.open ? batch : undefined;
}

/**
 * Every request oidc-provider serves gets a batch, sent once its handler has returned. A
 * handler that throws sends nothing: the request failed, and the error middleware above
 * (database-outage.ts) answers it.
 */
export function batchPayloadWrites(provider: Provider, payloads: OidcPayloadQueries) {
  provider.use(async (ctx, next) => {
    const batch = new PayloadWriteBatch(payloads);
    (ctx as { [BATCH]?: PayloadWriteBatch })[BATCH] = batch;
    try {
      await next();
    } catch (err) {
      batch.abandon();
      throw err;
    }
    await batch.close();
  });
}
