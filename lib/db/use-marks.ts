/**
 * Notes when rows were last used (clients, API keys) without a write on each use.
 *
 * Each instance marks a row at most once per `resolutionMs` (the marks it made are remembered
 * in memory), off the request's path: the marks of one `flushMs` go out together as one
 * statement, which the caller makes conditional so that another instance's recent mark turns
 * it into a no-op. One statement per mark was a burst whenever many rows came due together
 * (500 machine clients first used together come due together every minute) that held the pool
 * and the CPU while requests waited.
 *
 * A mark that could not be written is forgotten, so the next use marks the row again. `flush`
 * writes what is due at once (on shutdown).
 */
export type UseMarker = {
  mark(id: string): void;
  flush(): Promise<void>;
};

const FLUSH_MS = 1000;
const REMEMBERED_MAX = 10_000;

export function createUseMarker(opts: {
  resolutionMs: number;
  /** marks `ids` used at `now` unless each was marked after `staleBefore` */
  write: (ids: readonly string[], now: Date, staleBefore: Date) => Promise<unknown>;
  onError: (err: unknown) => void;
  flushMs?: number;
  /** the clock (tests move it) */
  now?: () => number;
}): UseMarker {
  const clock = opts.now ?? Date.now;
  const lastMarked = new Map<string, number>();
  const due = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!due.size) return writing;
    const ids = [...due];
    due.clear();
    const now = clock();
    const written = opts.write(ids, new Date(now), new Date(now - opts.resolutionMs)).then(
      () => undefined,
      (err: unknown) => {
        for (const id of ids) lastMarked.delete(id);
        opts.onError(err);
      },
    );
    writing = Promise.all([writing, written]).then(() => undefined);
    return writing;
  }

  return {
    mark(id) {
      const now = clock();
      const previous = lastMarked.get(id);
      if (previous !== undefined && now - previous < opts.resolutionMs) return;
      if (lastMarked.size >= REMEMBERED_MAX) {
        for (const [known, at] of lastMarked) if (now - at >= opts.resolutionMs) lastMarked.delete(known);
        if (lastMarked.size >= REMEMBERED_MAX) lastMarked.clear();
      }
      lastMarked.set(id, now);
      due.add(id);
      timer ??= setTimeout(() => void flush(), opts.flushMs ?? FLUSH_MS).unref();
    },
    flush,
  };
}
