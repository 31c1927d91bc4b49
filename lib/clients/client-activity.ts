import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditService } from '../audit/audit.service.js';
import { createUseMarker, type UseMarker } from '../db/use-marks.js';
import type { ClientQueries } from './clients.queries.js';

/**
 * What happens to clients through oidc-provider: dynamic registrations, updates and deletions
 * (RFC 7591/7592) go to the audit log, and each successful token request marks its client as
 * used (at most once a minute per client and instance, in batches off the request's path:
 * `clientUseMarker`), so that dynamically registered clients nobody uses can be pruned.
 */
export const CLIENT_LAST_USED_RESOLUTION_SECONDS = 60;

export function clientUseMarker(clients: ClientQueries, onError: (err: unknown) => void): UseMarker {
  return createUseMarker({ resolutionMs: CLIENT_LAST_USED_RESOLUTION_SECONDS * 1000, write: (ids, now, staleBefore) => clients.touchLastUsed(ids, now, staleBefore), onError });
}

export function watchClientActivity(provider: Provider, deps: { audit: Pick<AuditService, 'record'>; uses: UseMarker }) {
  const { audit } = deps;
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
    if (clientId) deps.uses.mark(clientId);
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
