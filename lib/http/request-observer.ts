import type Koa from 'koa';

/** Told of each request once its response is done: the context and how long it took. */
export type RequestObserver = (ctx: Koa.Context, ms: number) => void;

/**
 * Times each request and tells every observer (the log line, the metrics) when its response is
 * done ('close': sent, or the connection went away). A plain function rather than an async
 * layer around the rest, it adds no promise to the request; and one listener and one clock
 * reading serve all the observers.
 */
export function observeRequests(observers: readonly RequestObserver[]): Koa.Middleware {
  return (ctx, next) => {
    const started = process.hrtime.bigint();
    ctx.res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      for (const observe of observers) observe(ctx, ms);
    });
    return next();
  };
}
