/**
 * A background task on a timer, one run at a time: a tick while the previous run is still
 * going is skipped, a failed run is handed to `onError` and tried again next tick, and `stop`
 * waits for the run in progress. The timer never keeps the process alive. `onResult` is also
 * told how long the run took, so a job can log it: on the embedded database every job's
 * statements run on the same thread as the requests, and a slow run shows in their latency.
 */
export type IntervalJob = { start(): void; stop(): Promise<void> };

/** Node's longest timer (2^31 - 1 ms, 24.8 days); past it Node fires the timer every millisecond */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createIntervalJob<T>(run: () => Promise<T>, opts: { intervalMs: number; onError: (err: unknown) => void; onResult?: (result: T, ms: number) => void }): IntervalJob {
  if (!(opts.intervalMs >= 1 && opts.intervalMs <= MAX_TIMER_MS)) throw new RangeError(`an interval job needs 1 to ${MAX_TIMER_MS} ms, not ${opts.intervalMs}`);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  return {
    start() {
      timer = setInterval(() => {
        if (running) return;
        const started = performance.now();
        running = run()
          .then((result) => opts.onResult?.(result, Math.round(performance.now() - started)), opts.onError)
          .finally(() => {
            running = undefined;
          });
      }, opts.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
