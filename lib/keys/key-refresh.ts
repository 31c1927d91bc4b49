import { createIntervalJob } from '../jobs/interval-job.js';
import type { Logger } from '../log.js';
import type { KeyMaterial, KeyService } from './keys.service.js';

/**
 * Keeps this instance's keys in step with the `keys` table without a restart: on every
 * interval it moves due keys along (activation, expiry; once across all instances, under the
 * keys lock) and reloads the key material, handing it to `apply` whenever it changed.
 */
export type KeyRefreshJob = ReturnType<typeof createKeyRefreshJob>;

export function createKeyRefreshJob(deps: {
  keys: KeyService;
  log: Logger;
  intervalSeconds: number;
  initial: KeyMaterial;
  apply: (material: KeyMaterial) => void;
}) {
  let fingerprint = deps.initial.fingerprint;

  /** One refresh; true when new key material was applied. */
  async function runOnce(): Promise<boolean> {
    await deps.keys.advance();
    const material = await deps.keys.loadKeyMaterialIfChanged(fingerprint);
    if (!material) return false;
    deps.apply(material);
    fingerprint = material.fingerprint;
    deps.log.info({ keys: material.fingerprint }, 'loaded new signing and cookie keys');
    return true;
  }

  const job = createIntervalJob(runOnce, {
    intervalMs: deps.intervalSeconds * 1000,
    // e.g. the database is briefly down: keep the keys we have and try again next time
    onError: (err) => deps.log.warn({ err }, 'key refresh failed; will retry'),
  });

  return { runOnce, ...job };
}
