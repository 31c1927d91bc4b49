import { LRUCache } from 'lru-cache';
import type { ChangeFeed, ChangeTopic } from './change-feed.js';

/**
 * Rows read on nearly every request and rarely written, kept in memory and forgotten when the
 * change feed says they changed — on this instance or any other. Only rows that exist are
 * kept (an unknown id always asks the database), values are frozen so no caller can alter
 * what the next one reads, and every entry also expires within `ttlMs` as a bound for changes
 * made outside Latch (a hand-written UPDATE announces nothing).
 *
 * A read that was in flight when a change arrived is returned but not kept: it may have read
 * the row from before the change.
 */
export type ReadCache<V> = {
  get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined>;
  /** The value kept for `key`, without loading it; undefined when none is kept or the feed is down. A value once replaced never comes back: a change or a reload keeps a new object. */
  peek(key: string): V | undefined;
  /** Forgets every kept value `matches` picks (for a change to rows the values depend on); reads in flight are not kept. */
  forgetWhere(matches: (value: V) => boolean): void;
};

export const READ_CACHE_TTL_MS = 60_000;
const READ_CACHE_MAX = 10_000;
/**
 * Each entry lives between 75 % and all of the TTL, drawn at random: rows first read together
 * (500 clients at start-up) would otherwise expire together, and every later TTL would bring
 * them back as a burst of reads — and, for clients, of oidc-provider Client objects rebuilt.
 */
const TTL_SPREAD = 0.25;
/**
 * How long lru-cache reuses one reading of the clock for its expiry checks. At its default of
 * 1 ms, a busy process re-read the clock and armed a timer to forget the reading on nearly
 * every request, for each cache; entries living close to a minute can expire 100 ms late.
 * An injected clock (tests) is read on every check.
 */
const CLOCK_RESOLUTION_MS = 100;

export function createReadCache<V extends object>(
  feed: ChangeFeed,
  topic: ChangeTopic,
  opts: { ttlMs?: number; max?: number; /** the clock (tests move it) */ now?: () => number } = {},
): ReadCache<V> {
  const ttlMs = opts.ttlMs ?? READ_CACHE_TTL_MS;
  const entries = new LRUCache<string, V>({
    max: opts.max ?? READ_CACHE_MAX,
    ttl: ttlMs,
    ...(opts.now ? { perf: { now: opts.now }, ttlResolution: 0 } : { ttlResolution: CLOCK_RESOLUTION_MS }),
  });
  const entryTtl = () => Math.round(ttlMs * (1 - TTL_SPREAD * Math.random()));
  let generation = 0;
  feed.subscribe(topic, (key) => {
    generation++;
    if (key === undefined) entries.clear();
    else entries.delete(key);
  });

  return {
    async get(key, load) {
      if (!feed.live) return load();
      const hit = entries.get(key);
      if (hit) return hit;
      const startedAt = generation;
      const value = await load();
      if (value !== undefined && startedAt === generation && feed.live) entries.set(key, deepFreeze(value), { ttl: entryTtl() });
      return value;
    },
    peek(key) {
      return feed.live ? entries.get(key) : undefined;
    },
    forgetWhere(matches) {
      generation++;
      for (const [key, value] of entries.entries()) if (matches(value)) entries.delete(key);
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
