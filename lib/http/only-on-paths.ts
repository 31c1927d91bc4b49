/**
 * Runs `middleware` only for requests to one of `paths` (and, if given, with `method`); every
 * other request goes straight on, without the async layer — and the promises each async
 * middleware costs every request it wraps, whether or not it has anything to do there.
 */
export function onlyOnPaths<Ctx extends { path: string; method: string }, Next>(
  paths: readonly string[],
  middleware: (ctx: Ctx, next: Next) => unknown,
  method?: string,
): (ctx: Ctx, next: Next) => unknown {
  const wanted = new Set(paths);
  return (ctx, next) => (wanted.has(ctx.path) && (method === undefined || ctx.method === method) ? middleware(ctx, next) : (next as () => unknown)());
}
