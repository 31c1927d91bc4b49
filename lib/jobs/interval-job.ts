/**
 * A background task on a timer, one run at a time: a tick while the previous run is still
 * going is skipped, a failed run is handed to `onError` and tried again next tick, and `stop`
 * waits for the run in progress. The timer never keeps the process alive. `onResult` is also
 * told how long the run took, so a job can log it: on the embedded database every job's
 * statements run on the same thread as the requests, and a slow run shows in their latency.
 */
export type IntervalJob = { start(): void; stop(): Promise<void> };

export function createIntervalJob<T>(run: () => Promise<T>, opts: { intervalMs: number; onError: (err: unknown) => void; onResult?: (result: T, ms: number) => void }): IntervalJob {
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
