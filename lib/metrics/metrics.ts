import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import client from 'prom-client';
import type { RequestObserver } from '../http/request-observer.js';

/**
 * Prometheus metrics (prom-client): requests by route and status, latency, tokens issued by
 * grant type, sign-ins by outcome, and the database pool. Route labels are route patterns or
 * oidc-provider route names, never raw paths, so their number stays bounded.
 */
export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(deps: { knex: Knex }) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'latch_process_' });

  const requests = new client.Counter({ name: 'latch_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const latency = new client.Histogram({
    name: 'latch_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const tokens = new client.Counter({ name: 'latch_tokens_issued_total', help: 'Successful token endpoint responses by grant type', labelNames: ['grant_type'], registers: [registry] });
  const signIns = new client.Counter({ name: 'latch_sign_ins_total', help: 'Sign-in attempts by outcome', labelNames: ['outcome'], registers: [registry] });
  new client.Gauge({
    name: 'latch_db_pool_connections',
    help: 'Database pool connections by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const pool = (deps.knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
      if (!pool) return;
      this.set({ state: 'used' }, pool.numUsed());
      this.set({ state: 'free' }, pool.numFree());
      this.set({ state: 'pending' }, pool.numPendingAcquires());
    },
  });

  const KNOWN_GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange']);
  return {
    registry,
    /** Counts token endpoint successes by grant type from oidc-provider's events. */
    watchProvider(provider: Provider) {
      provider.on('grant.success', (ctx: { oidc?: { params?: { grant_type?: unknown } } }) => {
        const grant = String(ctx.oidc?.params?.grant_type ?? '');
        tokens.inc({ grant_type: KNOWN_GRANTS.has(grant) ? grant : 'other' });
      });
    },
    signIn(outcome: 'success' | 'failure' | 'throttled') {
      signIns.inc({ outcome });
    },
    /**
     * Counts a request and its latency once its response is done (lib/http/request-observer.ts
     * calls this). Label sets are looked up once per method, route and status (all bounded:
     * Node accepts only known methods, routes are patterns).
     */
    requestObserver(): RequestObserver {
      const latencyFor = new Map<string, client.Histogram.Internal<'method' | 'route'>>();
      const countFor = new Map<string, client.Counter.Internal>();
      return (ctx, ms) => {
        const oidcRoute = (ctx as unknown as { oidc?: { route?: string } }).oidc?.route;
        const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? (oidcRoute ? `oidc:${oidcRoute}` : 'other');
        const status = String(ctx.res.statusCode);
        const key = `${ctx.method} ${route}`;
        let observe = latencyFor.get(key);
        if (!observe) latencyFor.set(key, (observe = latency.labels({ method: ctx.method, route })));
        observe.observe(ms / 1e3);
        let count = countFor.get(`${key} ${status}`);
        if (!count) countFor.set(`${key} ${status}`, (count = requests.labels({ method: ctx.method, route, status })));
        count.inc();
      };
    },
    async render(): Promise<{ type: string; body: string }> {
      return { type: registry.contentType, body: await registry.metrics() };
    },
  };
}
