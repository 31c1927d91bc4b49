// oidc-provider ships no types for its helpers; these are the internals Latch reuses.
declare module 'oidc-provider/lib/helpers/fetch_request.js' {
  export function applySSRFProtection<T>(dispatcher: T): T;
}

// the AsyncLocalStorage behind Provider.ctx (lib/audit/request-context.ts shares it)
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';
  const als: AsyncLocalStorage<unknown>;
  export default als;
}
