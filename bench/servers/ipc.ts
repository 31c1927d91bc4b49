import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/**
 * The child side of the bench's IPC: the parent sends `{ id, type, ...args }`, the child
 * answers `{ id, ok, result }` or `{ id, ok: false, error }`. A `stop` request runs the
 * given shutdown and exits, so `--cpu-prof` profiles get written. Every server also answers
 * `gc-stats`: the garbage collector's pauses of its main thread since it started.
 */
export type GcStats = { pauseMs: number; minor: number; major: number };

function observeGc(): () => GcStats {
  const stats: GcStats = { pauseMs: 0, minor: 0, major: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      stats.pauseMs += entry.duration;
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) stats.major += 1;
      else if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) stats.minor += 1;
    }
  }).observe({ entryTypes: ['gc'] });
  return () => ({ ...stats });
}

export type IpcHandlers = Record<string, (message: Record<string, unknown>) => Promise<unknown>>;

type Request = { id: number; type: string } & Record<string, unknown>;

function send(message: unknown) {
  process.send?.(message);
}

export function serveIpc(own: IpcHandlers, shutdown: () => Promise<void>) {
  const gcStats = observeGc();
  const handlers: IpcHandlers = { ...own, 'gc-stats': async () => gcStats() };
  process.on('message', (raw) => {
    const message = raw as Request;
    if (message.type === 'stop') {
      shutdown()
        .catch((err: unknown) => console.error(err))
        .finally(() => {
          send({ id: message.id, ok: true });
          process.exit(0);
        });
      return;
    }
    const handler = handlers[message.type];
    if (!handler) {
      send({ id: message.id, ok: false, error: `unknown request ${message.type}` });
      return;
    }
    handler(message)
      .then((result) => send({ id: message.id, ok: true, result }))
      .catch((err: unknown) => send({ id: message.id, ok: false, error: err instanceof Error ? err.message : String(err) }));
  });
  process.on('disconnect', () => {
    shutdown().finally(() => process.exit(0));
  });
}

export function announceReady(url: string) {
  send({ type: 'ready', url });
}

/** Waits for the parent's first message of the given type (a child's start-up input). */
export function receive<T>(type: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (raw: unknown) => {
      const message = raw as { type?: string };
      if (message.type !== type) return;
      process.off('message', onMessage);
      resolve(message as T);
    };
    process.on('message', onMessage);
  });
}
