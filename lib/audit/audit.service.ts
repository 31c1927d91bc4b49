import { parseDuration } from '../config/durations.js';
import { invalidInput } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { AuditFilter, AuditQueries, AuditRow } from './audit.queries.js';
import { currentRequest } from './request-context.js';

/**
 * The audit log: sign-ins and their failures, MFA and password changes, client registrations,
 * key and API-key events, and every admin action. Recording never fails the caller's request:
 * an event that cannot be written is logged instead. There is no retention period (DESIGN.md
 * names none), so events are kept.
 */
export const AUDIT_EVENT_TYPES = [
  'sign_in.password',
  'sign_in.passkey',
  'sign_in.totp',
  'sign_in.recovery_code',
  'mfa.totp_added',
  'mfa.totp_removed',
  'mfa.passkey_added',
  'mfa.passkey_removed',
  'mfa.recovery_codes_regenerated',
  'password.changed',
  'password.reset',
  'client.registered',
  'client.updated',
  'client.deleted',
  'api_key.created',
  'api_key.revoked',
  'api_key.rotated',
  'api_key.use_failed',
  'api_key.exchanged',
  'keys.rotated',
  'keys.retired',
  // admin.<command>: every admin command and console change, e.g. admin.users.disable
  'admin',
] as const;

export type AuditOutcome = 'success' | 'failure' | 'throttled';

export type AuditEvent = {
  type: string;
  outcome?: AuditOutcome;
  /** an account id, `api-key:<id>`, 'cli', 'system' or 'anonymous' (the default) */
  actor?: string;
  subject?: string | null;
  clientId?: string | null;
  /** default: the current request's */
  ip?: string;
  userAgent?: string;
  details?: Record<string, unknown>;
};

export type AuditEntry = {
  id: string;
  occurredAt: Date;
  type: string;
  outcome: string;
  actor: string;
  subject: string | null;
  clientId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
};

const LIST_DEFAULT = 100;
const LIST_MAX = 1000;
export const EXPORT_PAGE_SIZE = 1000;
const TEXT_MAX = 512;
const DETAILS_MAX_BYTES = 8192;
const FILTER_MAX = 200;

// PostgreSQL text and jsonb cannot hold U+0000; control characters never belong in a log line
const clean = (value: unknown, max = TEXT_MAX): string | null =>
  typeof value === 'string' && value ? value.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, max) : null;

function cleanDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!details) return {};
  const json = JSON.stringify(details, (_key, value) => (typeof value === 'string' ? value.replace(/\u0000/g, '') : value));
  if (!json) return {};
  return Buffer.byteLength(json) > DETAILS_MAX_BYTES ? { truncated: true } : (JSON.parse(json) as Record<string, unknown>);
}

export const toEntry = (row: AuditRow): AuditEntry => ({
  id: String(row.id),
  occurredAt: row.occurred_at,
  type: row.type,
  outcome: row.outcome,
  actor: row.actor,
  subject: row.subject,
  clientId: row.client_id,
  ip: row.ip,
  userAgent: row.user_agent,
  details: row.details ?? {},
});

/** A point in time: an ISO date or date-time, or a duration ago ("24h", "7d"). */
function parseTime(value: unknown, name: string): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' && !(value instanceof Date)) throw invalidInput(`${name} must be a date (2026-11-01, 2026-11-01T12:00:00Z) or a duration ago (24h, 7d)`);
  if (value instanceof Date) return value;
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(Date.now() - ago * 1000);
  const date = /^\d{4}-\d\d-\d\d([T ][\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(value.trim()) ? new Date(value.trim()) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw invalidInput(`${name} must be a date (2026-11-01, 2026-11-01T12:00:00Z) or a duration ago (24h, 7d)`);
  return date;
}

function parseText(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > FILTER_MAX || /[\u0000-\u001f]/.test(value)) throw invalidInput(`${name} must be at most ${FILTER_MAX} printable characters`);
  return value;
}

export function parseAuditFilter(input: Record<string, unknown>): AuditFilter {
  const outcome = parseText(input.outcome, 'outcome');
  if (outcome && !['success', 'failure', 'throttled'].includes(outcome)) throw invalidInput('outcome must be success, failure or throttled');
  const filter: AuditFilter = {
    type: parseText(input.type, 'type'),
    actor: parseText(input.actor, 'actor'),
    subject: parseText(input.subject, 'subject'),
    outcome,
    since: parseTime(input.since, 'since'),
    until: parseTime(input.until, 'until'),
  };
  if (filter.since && filter.until && filter.since >= filter.until) throw invalidInput('since must be before until');
  return filter;
}

function parseLimit(value: unknown): number {
  if (value === undefined || value === null || value === '') return LIST_DEFAULT;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > LIST_MAX) throw invalidInput(`limit must be a whole number from 1 to ${LIST_MAX}`);
  return n;
}

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService(deps: { queries: AuditQueries; log: Logger }) {
  const { queries, log } = deps;

  return {
    /** Appends one event. Never throws: a failure to write is logged, the caller carries on. */
    async record(event: AuditEvent): Promise<void> {
      const request = currentRequest();
      try {
        await queries.insert({
          type: clean(event.type, 100) ?? 'unknown',
          outcome: event.outcome ?? 'success',
          actor: clean(event.actor, 200) ?? 'anonymous',
          subject: clean(event.subject),
          client_id: clean(event.clientId),
          ip: clean(event.ip ?? request?.ip, 100),
          user_agent: clean(event.userAgent ?? request?.userAgent),
          details: cleanDetails(event.details),
        });
      } catch (err) {
        log.error({ err, audit: { type: event.type, outcome: event.outcome, actor: event.actor, subject: event.subject } }, 'could not write an audit event');
      }
    },

    /** The newest events matching the filters (at most 1000). */
    async list(input: Record<string, unknown> = {}): Promise<AuditEntry[]> {
      const filter = parseAuditFilter(input);
      return (await queries.latest(filter, parseLimit(input.limit))).map(toEntry);
    },

    /**
     * One page of an export, oldest first; `next` is the cursor for the following page (absent
     * on the last). Paging by id keeps memory flat however long the log is.
     */
    async exportPage(input: Record<string, unknown> = {}): Promise<{ events: AuditEntry[]; next?: string; total?: number }> {
      const filter = parseAuditFilter(input);
      const after = input.after === undefined || input.after === null ? undefined : String(input.after);
      if (after !== undefined && !/^\d{1,19}$/.test(after)) throw invalidInput('after must be an event id');
      const rows = await queries.pageAfter(filter, after, EXPORT_PAGE_SIZE);
      const events = rows.map(toEntry);
      return {
        events,
        next: rows.length === EXPORT_PAGE_SIZE ? events.at(-1)!.id : undefined,
        // the total is counted once, with the first page, for progress
        total: after === undefined ? await queries.count(filter) : undefined,
      };
    },
  };
}
