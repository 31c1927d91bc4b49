import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import Koa from 'koa';
import { requestContext } from '../lib/audit/request-context.js';
import { errorHandler, requestLog } from '../lib/http/error-handler.js';
import { observeRequests, type RequestObserver } from '../lib/http/request-observer.js';
import { securityHeaders } from '../lib/http/security-headers.js';
import { createLogger } from '../lib/log.js';
import { createMetrics } from '../lib/metrics/metrics.js';
import type { Renderer } from '../lib/views/renderer.js';
import { runClosedLoop } from './measure/closed-loop.js';
import { cpuSeconds } from './measure/proc.js';
import { percentile } from './measure/sample.js';

/**
 * What the web stack costs per request before any of Latch's own work, and what each of the
 * request layers every Latch response passes through adds to it. Each variant answers the same
 * small JSON (the shape of `/api/v1/whoami`) in a process of its own: a plain `node:http`
 * handler (the echo of scenario 4a), Koa with @koa/router, and that Koa app with Latch's real
 * layers from lib/ — the log line (pino, as deployed, to stdout), the metrics, the request
 * context of the audit log, the security headers, the error layer — one at a time and all
 * together. Driven by the benchmark's own closed loop (autocannon, keep-alive), windows
 * alternating between the variants; prints req/s and the server's CPU µs per request.
 *
 *   npm run bench:stack [-- --rounds 3 --window 5 --warmup 2 --connections 10]
 */
type Variant = { name: string; layers: string[] };
const LAYERS = ['log', 'metrics', 'context', 'headers', 'errors'] as const;
const VARIANTS: Variant[] = [
  { name: 'echo (node:http)', layers: ['echo'] },
  { name: 'Koa + @koa/router', layers: [] },
  ...LAYERS.map((layer) => ({ name: `  + ${layer}`, layers: [layer] })),
  { name: '  + all five', layers: [...LAYERS] },
];
const BODY = { sub: 'acc_0123456789abcdef', authMethod: 'api-key', scopes: ['api:read'], orgId: null };

function serve(layers: Set<string>): http.Server {
  if (layers.has('echo')) {
    return http.createServer((_req, res) => {
      const text = JSON.stringify(BODY);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    });
  }
  const app = new Koa();
  const log = createLogger('info');
  const observers: RequestObserver[] = [];
  if (layers.has('log')) observers.push(requestLog(log));
  // the registry's own collectors only read the pool when scraped, which nothing does here
  if (layers.has('metrics')) observers.push(createMetrics({ knex: undefined as never }).requestObserver());
  if (observers.length) app.use(observeRequests(observers));
  if (layers.has('context')) app.use(requestContext());
  if (layers.has('headers')) app.use(securityHeaders({ issuer: 'http://127.0.0.1' }));
  if (layers.has('errors')) app.use(errorHandler({ log, renderer: undefined as unknown as Renderer }));
  const router = new Router({ prefix: '/api/v1' });
  router.get('/whoami', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = BODY;
  });
  app.use(router.routes()).use(router.allowedMethods());
  return http.createServer(app.callback());
}

function option(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const value = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
}

async function startVariant(variant: Variant) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', variant.layers.join(',')], {
    execArgv: ['--import', 'tsx', '--no-warnings'],
    // the log line goes to stdout as deployed; here nobody reads it
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${variant.name} exited (${code})`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

async function main(argv: string[]) {
  const rounds = option(argv, '--rounds', 3);
  const windowS = option(argv, '--window', 5);
  const warmupS = option(argv, '--warmup', 2);
  const connections = option(argv, '--connections', 10);
  const results = new Map<string, Array<{ rate: number; cpuUs: number }>>();
  const source = { next: () => ({ method: 'GET' as const, path: '/api/v1/whoami' }) };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      const { child, url } = await startVariant(variant);
      try {
        await runClosedLoop(url, source, { connections, durationS: warmupS });
        const before = cpuSeconds(child.pid!)!;
        const sample = await runClosedLoop(url, source, { connections, durationS: windowS });
        const cpu = cpuSeconds(child.pid!)! - before;
        if (sample.ok !== sample.responses || sample.errors) throw new Error(`${variant.name}: ${sample.responses - sample.ok} non-2xx, ${sample.errors} errors`);
        results.set(variant.name, [...(results.get(variant.name) ?? []), { rate: sample.ok / sample.durationS, cpuUs: (cpu * 1e6) / sample.ok }]);
      } finally {
        child.kill();
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
  }
  const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50)!;
  const echo = median(results.get(VARIANTS[0]!.name)!.map((r) => r.rate));
  console.log(`${rounds} × ${windowS} s per variant, ${connections} connections; medians\n`);
  console.log('| variant | req/s | ÷ echo | server CPU µs per request |');
  console.log('| --- | --- | --- | --- |');
  for (const variant of VARIANTS) {
    const rs = results.get(variant.name)!;
    const rate = median(rs.map((r) => r.rate));
    console.log(`| ${variant.name.trim()} | ${Math.round(rate)} | ${(rate / echo).toFixed(2)} | ${median(rs.map((r) => r.cpuUs)).toFixed(1)} |`);
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--serve') {
  const server = serve(new Set((argv[1] ?? '').split(',').filter(Boolean)));
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
} else {
  await main(argv);
}
