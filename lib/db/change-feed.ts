import crypto from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../log.js';

/**
 * Tells every instance sharing the database that rows of a cached table changed, so each can
 * keep hot, rarely written rows (clients, resource servers, API keys) in memory and still see a
 * change made anywhere at once. A cache whose rows depend on other rows (an API key on its
 * owner) also listens to their topics (accounts, organizations).
 *
 * A write runs in a transaction that also issues `pg_notify`; PostgreSQL delivers the notice
 * to every listening session only when that transaction commits. The writing instance forgets
 * the keys itself right after the commit, so its own next read is fresh without waiting for
 * its notice to come back. Other instances hear it on a connection of their own that LISTENs;
 * while that connection is down they cannot hear changes, so `live` is false and caches read
 * through to the database; when it comes back, caches are emptied first (anything may have
 * changed while it was down).
 *
 * A connection can also look fine and hear nothing (a half-open TCP connection, or a pooler in
 * transaction mode that hands the LISTEN to a server connection another client then gets), so
 * the feed sends itself a heartbeat notice every few seconds through the ordinary pool and
 * counts as live only while its own heartbeats keep arriving; when they stop, caches read
 * through, and they are emptied when the heartbeats are heard again.
 *
 * The embedded database is one process's own (the data directory is locked), so changes are
 * only ever made here and the feed is always live.
 */
export type ChangeTopic = 'clients' | 'resource_servers' | 'api_keys' | 'accounts' | 'organizations';
/** `undefined`: anything in the topic may have changed */
export type ChangeListener = (key: string | undefined) => void;
/** Says, inside a transaction, that these rows of `topic` change when it commits. */
export type Announce = (topic: ChangeTopic, keys: readonly string[]) => Promise<void>;

export type ChangeFeed = {
  readonly live: boolean;
  /**
   * Runs `write` in a transaction that announces that `keys(result)` of `topic` changed; the
   * notice goes out on commit, and this instance's listeners hear it just after.
   */
  write<T>(topic: ChangeTopic, keys: (result: T) => readonly string[], write: (trx: Knex.Transaction) => Promise<T>): Promise<T>;
  /** A transaction that may announce changes to several topics; each is heard only if it commits. */
  transaction<T>(work: (trx: Knex.Transaction, announce: Announce) => Promise<T>): Promise<T>;
  subscribe(topic: ChangeTopic, listener: ChangeListener): void;
  /** Starts listening for other instances' changes (PostgreSQL); until then `live` is false. */
  start(): Promise<void>;
  close(): Promise<void>;
};

export const CHANGE_CHANNEL = 'latch_changes';
const HEARTBEAT_MS = 5_000;
// live while the last heartbeat heard is younger than this (two missed beats and a margin)
const HEARTBEAT_STALE_MS = 12_000;
// NOTIFY payloads are capped at 8000 bytes; a bigger change is announced as "everything"
const MAX_PAYLOAD = 7000;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;

type Notice = { t: ChangeTopic | 'heartbeat'; k?: readonly string[] };

export function createChangeFeed(opts: { knex: Knex; kind: 'embedded' | 'postgres'; url?: string; log: Logger }): ChangeFeed {
  const listeners = new Map<ChangeTopic, ChangeListener[]>();
  const instance = crypto.randomUUID();
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let heardAt = 0;
  let wasLive = false;
  let listening = false;
  let listener: pg.Client | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnectMs = RECONNECT_MIN_MS;
  let closed = false;

  function isLive() {
    const live = opts.kind === 'embedded' || (listening && Date.now() - heardAt < HEARTBEAT_STALE_MS);
    // back from a time nothing was heard: anything may have changed meanwhile
    if (live && !wasLive) forgetEverything();
    wasLive = live;
    return live;
  }

  function dispatch(notice: Notice) {
    if (notice.t === 'heartbeat') {
      if (notice.k?.[0] === instance) heardAt = Date.now();
      return;
    }
    for (const listen of listeners.get(notice.t) ?? []) {
      if (notice.k) for (const key of notice.k) listen(key);
      else listen(undefined);
    }
  }
  function forgetEverything() {
    for (const topic of listeners.keys()) dispatch({ t: topic });
  }

  async function beat() {
    try {
      await opts.knex.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, JSON.stringify({ t: 'heartbeat', k: [instance] } satisfies Notice)]);
    } catch (err) {
      opts.log.debug({ err }, 'change feed heartbeat not sent');
    }
  }

  function payloadOf(topic: ChangeTopic, keys: readonly string[]): string {
    const payload = JSON.stringify({ t: topic, k: keys } satisfies Notice);
    return Buffer.byteLength(payload) <= MAX_PAYLOAD ? payload : JSON.stringify({ t: topic } satisfies Notice);
  }

  async function connect() {
    const client = new pg.Client({ connectionString: opts.url, application_name: 'latch-changes' });
    const lost = (err?: Error) => {
      if (listener !== client) return;
      listener = undefined;
      listening = false;
      // changes made while nobody listened would be missed: read through until listening again
      forgetEverything();
      client.end().catch(() => undefined);
      if (err) opts.log.warn({ err }, 'change feed connection lost; caches read through until it is back');
      scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel !== CHANGE_CHANNEL || !message.payload) return;
      try {
        dispatch(JSON.parse(message.payload) as Notice);
      } catch {
        forgetEverything();
      }
    });
    listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      lost(err as Error);
      return;
    }
    if (listener !== client || closed) return;
    forgetEverything();
    listening = true;
    reconnectMs = RECONNECT_MIN_MS;
    void beat();
  }

  function scheduleReconnect() {
    if (closed || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, reconnectMs);
    reconnectTimer.unref();
    reconnectMs = Math.min(reconnectMs * 2, RECONNECT_MAX_MS);
  }

  async function transaction<T>(work: (trx: Knex.Transaction, announce: Announce) => Promise<T>): Promise<T> {
    const announced: Notice[] = [];
    const result = await opts.knex.transaction((trx) =>
      work(trx, async (topic, keys) => {
        if (!keys.length) return;
        announced.push({ t: topic, k: keys });
        if (opts.kind === 'postgres') await trx.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, payloadOf(topic, keys)]);
      }),
    );
    for (const notice of announced) dispatch(notice);
    return result;
  }

  return {
    get live() {
      return isLive();
    },

    write(topic, keys, write) {
      return transaction(async (trx, announce) => {
        const value = await write(trx);
        await announce(topic, keys(value));
        return value;
      });
    },

    transaction,

    subscribe(topic, listen) {
      listeners.set(topic, [...(listeners.get(topic) ?? []), listen]);
    },

    async start() {
      if (opts.kind !== 'postgres' || closed) return;
      await connect();
      heartbeatTimer = setInterval(() => void beat(), HEARTBEAT_MS);
      heartbeatTimer.unref();
    },

    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      const client = listener;
      listener = undefined;
      listening = false;
      await client?.end().catch(() => undefined);
    },
  };
}
