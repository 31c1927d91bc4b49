import type { Knex } from 'knex';

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

  return {
    async insert(row: Omit<AuditRow, 'id' | 'occurred_at'>) {
      await knex('audit_events').insert({ ...row, details: JSON.stringify(row.details) });
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
