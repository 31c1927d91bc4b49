/**
 * A background task on a timer, one run at a time: a tick while the previous run is still
 * going is skipped, a failed run is handed to `onError` and tried again next tick, and `stop`
 * waits for the run in progress. The timer never keeps the process alive.
 */
export type IntervalJob = { start(): void; stop(): Promise<void> };

export function createIntervalJob<T>(run: () => Promise<T>, opts: { intervalMs: number; onError: (err: unknown) => void; onResult?: (result: T) => void }): IntervalJob {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  return {
    start() {
      timer = setInterval(() => {
        if (running) return;
        running = run()
          .then((result) => opts.onResult?.(result), opts.onError)
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
