/**
 * Runs `middleware` only for requests to one of `paths` (and, if given, with `method`); every
 * other request goes straight on, without the async layer — and the promises each async
 * middleware costs every request it wraps, whether or not it has anything to do there.
 */
export function onlyOn<Ctx extends { path: string; method: string }, Next>(
  where: { paths: readonly string[]; method?: string },
  middleware: (ctx: Ctx, next: Next) => unknown,
): (ctx: Ctx, next: Next) => unknown {
  const paths = new Set(where.paths);
  const { method } = where;
  return (ctx, next) => (paths.has(ctx.path) && (method === undefined || ctx.method === method) ? middleware(ctx, next) : (next as () => unknown)());
}
