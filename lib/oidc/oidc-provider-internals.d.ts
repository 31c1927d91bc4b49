// oidc-provider ships no types for its helpers; this is the one internal Latch reuses.
declare module 'oidc-provider/lib/helpers/fetch_request.js' {
  export function applySSRFProtection<T>(dispatcher: T): T;
}
