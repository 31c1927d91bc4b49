import DataLoader from 'dataloader';

/**
 * Calls made in the same turn of the event loop — by the requests that reached them in it —
 * handed to `batch` together, so they go to the database as one statement; each caller gets
 * its own answer. Batching only: nothing is cached, every call reaches the database.
 */
export function perTurnBatch<K, V>(batch: (keys: readonly K[]) => Promise<V[]>): (key: K) => Promise<V> {
  const loader = new DataLoader<K, V>(batch, { cache: false, maxBatchSize: 100, batchScheduleFn: (send) => setImmediate(send) });
  return (key) => loader.load(key);
}
