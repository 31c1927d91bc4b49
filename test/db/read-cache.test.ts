import { expect } from 'chai';
import type { ChangeFeed, ChangeListener } from '../../lib/db/change-feed.js';
import { createReadCache } from '../../lib/db/read-cache.js';

/** The read cache's own rules, on a feed that is always live (as the embedded database's is). */
function liveFeed() {
  const listeners = new Map<string, ChangeListener[]>();
  const feed: ChangeFeed = {
    live: true,
    write: () => Promise.reject(new Error('not used here')),
    transaction: () => Promise.reject(new Error('not used here')),
    subscribe: (topic, listen) => void listeners.set(topic, [...(listeners.get(topic) ?? []), listen]),
    start: async () => undefined,
    close: async () => undefined,
  };
  return { feed, announce: (topic: string, key?: string) => listeners.get(topic)?.forEach((listen) => listen(key)) };
}

describe('read cache', () => {
  it('rows read together expire spread over the last quarter of the TTL, not at once', async () => {
    const start = 1_000_000;
    let now = start;
    const { feed } = liveFeed();
    const cache = createReadCache<{ id: string }>(feed, 'clients', { ttlMs: 60_000, now: () => now });
    const ids = Array.from({ length: 200 }, (_, i) => `c${i}`);
    for (const id of ids) await cache.get(id, async () => ({ id }));
    // an injected clock is read on every check: no real time has to pass
    const kept = () => ids.filter((id) => cache.peek(id) !== undefined).length;
    now = start + 44_900;
    expect(kept(), 'before 75 % of the TTL').to.equal(200);
    now = start + 52_500;
    expect(kept(), 'half-way through the spread').to.be.within(40, 160);
    now = start + 60_001;
    expect(kept(), 'after the TTL').to.equal(0);
  });

  it('forgets what a change names, and what forgetWhere picks; a read in flight across a change is not kept', async () => {
    const { feed, announce } = liveFeed();
    const cache = createReadCache<{ id: string; owner: string }>(feed, 'api_keys');
    let reads = 0;
    const load = (id: string, owner: string) => async () => (reads++, { id, owner });
    await cache.get('a', load('a', 'alice'));
    await cache.get('b', load('b', 'bob'));
    await cache.get('c', load('c', 'alice'));
    expect(reads).to.equal(3);
    await cache.get('a', load('a', 'alice'));
    expect(reads, 'kept').to.equal(3);
    announce('api_keys', 'a');
    expect(cache.peek('a')).to.equal(undefined);
    cache.forgetWhere((row) => row.owner === 'alice');
    expect([cache.peek('b')?.id, cache.peek('c')]).to.deep.equal(['b', undefined]);
    let release!: () => void;
    const inFlight = cache.get('d', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { id: 'd', owner: 'dora' };
    });
    cache.forgetWhere(() => false);
    release();
    expect((await inFlight)?.id).to.equal('d');
    expect(cache.peek('d'), 'read before the change finished after it').to.equal(undefined);
  });
});
