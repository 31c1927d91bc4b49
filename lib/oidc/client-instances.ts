import type Provider from 'oidc-provider';

/**
 * oidc-provider turns a client's metadata into a Client object — validating every property
 * against its schema — and keeps only the last 100 it built (an LRU keyed by a SHA-256 of the
 * metadata's JSON). With more clients than that in use, as a deployment with many machine
 * clients has, nearly every token request rebuilt its client: that validation was the largest
 * single cost of a client-credentials token in the benchmark's 500-client rotation.
 *
 * Latch's client cache (clients.queries.ts, kept current by the change feed) hands out one
 * frozen metadata object per client until that client changes. So the Client built from that
 * object can be kept beside it, for as long as the object is the one kept: a change, an
 * expiry or a feed outage replaces or drops the object, and the next look-up builds again.
 * Everything else — unknown ids, client ID metadata documents, validation — stays
 * oidc-provider's own `Client.find`.
 */
type ClientClass = Provider['Client'];
type ClientInstance = NonNullable<Awaited<ReturnType<ClientClass['find']>>>;

export function reuseClientInstances(provider: Provider, clients: { cachedMetadata(clientId: string): object | undefined }) {
  const Client = provider.Client;
  const find = Client.find.bind(Client);
  const built = new WeakMap<object, ClientInstance>();
  Client.find = async (id: string) => {
    const metadata = typeof id === 'string' ? clients.cachedMetadata(id) : undefined;
    const known = metadata && built.get(metadata);
    if (known) return known;
    const client = await find(id);
    // kept only if the cache held the same object before and after: then that is what the client was built from
    if (client && metadata && clients.cachedMetadata(id) === metadata) built.set(metadata, client);
    return client;
  };
}
