import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditService } from '../audit/audit.service.js';
import type { ClientQueries } from './clients.queries.js';

/**
 * What happens to clients through oidc-provider: dynamic registrations, updates and deletions
 * (RFC 7591/7592) go to the audit log, and each successful token request marks its client as
 * used, so that dynamically registered clients nobody uses can be pruned.
 *
 * Marking use must stay cheap: each instance writes a client's last use at most once a
 * minute (remembered in memory), off the request's path, and the write itself is conditional
 * so another instance's recent mark makes it a no-op. The marks of one second go out as one
 * UPDATE: clients first used together (say, 500 machine clients after a start) come due
 * together every minute, and one statement each was a burst that held the pool and the CPU
 * for a few hundred milliseconds while token requests waited.
 */
const MARK_FLUSH_MS = 1000;
export const CLIENT_LAST_USED_RESOLUTION_SECONDS = 60;
const REMEMBERED_MAX = 10_000;

export function watchClientActivity(provider: Provider, deps: { audit: Pick<AuditService, 'record'>; clients: ClientQueries; onError: (err: unknown) => void }) {
  const { audit, clients } = deps;
  const resolutionMs = CLIENT_LAST_USED_RESOLUTION_SECONDS * 1000;
  const lastMarked = new Map<string, number>();
  const due = new Set<string>();
  let flushTimer: NodeJS.Timeout | undefined;

  function flush() {
    flushTimer = undefined;
    const ids = [...due];
    due.clear();
    const now = Date.now();
    clients.touchLastUsed(ids, new Date(now), new Date(now - resolutionMs)).catch((err) => {
      for (const id of ids) lastMarked.delete(id);
      deps.onError(err);
    });
  }

  function markUsed(clientId: string) {
    const now = Date.now();
    const previous = lastMarked.get(clientId);
    if (previous !== undefined && now - previous < resolutionMs) return;
    if (lastMarked.size >= REMEMBERED_MAX) {
      for (const [id, at] of lastMarked) if (now - at >= resolutionMs) lastMarked.delete(id);
      if (lastMarked.size >= REMEMBERED_MAX) lastMarked.clear();
    }
    lastMarked.set(clientId, now);
    due.add(clientId);
    flushTimer ??= setTimeout(flush, MARK_FLUSH_MS).unref();
  }

  const registration = (type: string) => (ctx: KoaContextWithOIDC, client?: { clientId: string; clientName?: string }) => {
    const clientId = client?.clientId ?? ctx.oidc.client?.clientId;
    void audit.record({
      type,
      // RFC 7591 registration is anonymous (or carries an initial access token); 7592 is the client itself
      actor: type === 'client.registered' ? 'anonymous' : `client:${clientId}`,
      subject: clientId,
      clientId,
      details: { name: client?.clientName ?? ctx.oidc.client?.clientName, dynamic: true, initialAccessToken: !!ctx.oidc.entities.InitialAccessToken },
    });
  };
  provider.on('registration_create.success', registration('client.registered'));
  provider.on('registration_update.success', registration('client.updated'));
  provider.on('registration_delete.success', registration('client.deleted'));

  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const clientId = ctx.oidc.client?.clientId;
    if (clientId) markUsed(clientId);
  });
}

/**
 * Removes dynamically registered clients unused for `idleDays` (LATCH_DCR_IDLE_DAYS), with
 * their grants and tokens, in small batches; each removal is audited. Admin-created clients
 * are never removed this way.
 */
const IDLE_BATCH = 200;
const IDLE_MAX_BATCHES = 50;

export function createIdleClientPruner(deps: { clients: ClientQueries; audit: Pick<AuditService, 'record'>; idleDays: number }) {
  return {
    async prune(): Promise<number> {
      const before = new Date(Date.now() - deps.idleDays * 86400_000);
      let removed = 0;
      for (let i = 0; i < IDLE_MAX_BATCHES; i += 1) {
        const ids = await deps.clients.deleteIdleDynamic(before, IDLE_BATCH);
        for (const id of ids) {
          await deps.audit.record({ type: 'client.deleted', actor: 'system', subject: id, clientId: id, details: { dynamic: true, reason: 'idle', idleDays: deps.idleDays } });
        }
        removed += ids.length;
        if (ids.length < IDLE_BATCH) break;
      }
      return removed;
    },
  };
}
