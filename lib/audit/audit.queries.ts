import type { Knex } from 'knex';
import { perTurnBatch } from '../db/per-turn-batch.js';

export type AuditRow = {
  id: string;
  occurred_at: Date;
  type: string;
  outcome: string;
  actor: string;
  subject: string | null;
  client_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
};

export type AuditFilter = {
  /** an exact type, or a family: "sign_in" matches sign_in.password, sign_in.totp … */
  type?: string;
  actor?: string;
  subject?: string;
  outcome?: string;
  since?: Date;
  until?: Date;
};

export type AuditQueries = ReturnType<typeof createAuditQueries>;
type NewAuditRow = Omit<AuditRow, 'id' | 'occurred_at'>;

export function createAuditQueries(knex: Knex) {
  function filtered(filter: AuditFilter) {
    const q = knex<AuditRow>('audit_events');
    if (filter.type) {
      const type = filter.type;
      q.where((w) => w.where('type', type).orWhere('type', 'like', `${type.replace(/[\\%_]/g, '\\$&')}.%`));
    }
    if (filter.actor) q.where('actor', filter.actor);
    if (filter.subject) q.where('subject', filter.subject);
    if (filter.outcome) q.where('outcome', filter.outcome);
    if (filter.since) q.where('occurred_at', '>=', filter.since);
    if (filter.until) q.where('occurred_at', '<', filter.until);
    return q;
  }

  /**
   * Events recorded in the same turn of the event loop (by the requests that reached that
   * point in it) go in one INSERT, one commit. If it is refused, each goes again on its own,
   * so only an event the database refuses fails — and only its caller hears of it.
   */
  const insertInTurn = perTurnBatch<NewAuditRow, Error | null>(async (rows) => {
    const values = rows.map((row) => ({ ...row, details: JSON.stringify(row.details) }));
    try {
      await knex('audit_events').insert(values);
      return values.map(() => null);
    } catch (err) {
      if (values.length === 1) return [err as Error];
      return Promise.all(values.map((value) => knex('audit_events').insert(value).then(() => null, (e: Error) => e)));
    }
  });

  return {
    async insert(row: NewAuditRow) {
      // an Error among the batch's answers rejects its caller's promise (DataLoader's contract)
      const refused = await insertInTurn(row);
      if (refused) throw refused;
    },

    /** The newest events first. */
    async latest(filter: AuditFilter, limit: number): Promise<AuditRow[]> {
      return filtered(filter).orderBy('id', 'desc').limit(limit);
    },

    /** Oldest first, after the given id: pages for an export that never skips or repeats. */
    async pageAfter(filter: AuditFilter, afterId: string | undefined, limit: number): Promise<AuditRow[]> {
      const q = filtered(filter).orderBy('id', 'asc').limit(limit);
      if (afterId) q.where('id', '>', afterId);
      return q;
    },

    async count(filter: AuditFilter): Promise<number> {
      const row = await filtered(filter).count<{ count: string | number }[]>('* as count').first();
      return Number(row?.count ?? 0);
    },
  };
}
