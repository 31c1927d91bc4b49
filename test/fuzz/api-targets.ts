import type { FuzzTarget } from './targets.js';
import type { FuzzWorld } from './world.js';

/**
 * The JSON API's operations, read from its own OpenAPI document so a new route is fuzzed
 * without anyone adding it here. Calls carry the person's bearer token for Latch's API;
 * path parameters are the person's own ids (or hostile text), bodies start from the schema's
 * property names. Operations that would end the fuzzer's own sign-in are left out.
 */
type Operation = { parameters?: Array<{ name: string }>; requestBody?: { content: { 'application/json': { schema: { properties?: Record<string, { type?: string }> } } } } };

const LEFT_OUT = new Set(['delete /api/v1/me', 'post /api/v1/sessions/end-all', 'post /api/v1/sessions/end-others']);

const SAMPLE_BY_TYPE: Record<string, unknown> = { string: 'x', boolean: true, number: 1, integer: 1, array: ['x'], object: {} };

export async function apiTargets(w: FuzzWorld): Promise<FuzzTarget[]> {
  const doc = (await fetch(`${w.latch.url}/api/v1/openapi.json`).then((r) => r.json())) as { paths: Record<string, Record<string, Operation>> };
  const known: Record<string, (w: FuzzWorld) => string> = { orgId: (x) => x.orgId, accountId: (x) => x.person.id };
  const targets: FuzzTarget[] = [];
  for (const [template, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      if (LEFT_OUT.has(`${method} ${template}`)) continue;
      const names = (op.parameters ?? []).map((p) => p.name);
      const properties = op.requestBody?.content['application/json'].schema.properties ?? {};
      const sample = Object.fromEntries(Object.entries(properties).map(([name, s]) => [name, SAMPLE_BY_TYPE[s.type ?? 'string'] ?? 'x']));
      const upper = method.toUpperCase() as FuzzTarget['method'];
      targets.push({
        name: `${upper} ${template}`,
        method: upper,
        path: (x, _p, segment) => {
          let path = template;
          names.forEach((name, i) => {
            const value = i === names.length - 1 && segment !== undefined ? segment : (known[name]?.(x) ?? 'x');
            path = path.replace(`{${name}}`, value);
          });
          return path;
        },
        hasPathParam: names.length > 0,
        in: upper === 'GET' || upper === 'DELETE' ? 'query' : 'body',
        base: () => (upper === 'GET' || upper === 'DELETE' ? { limit: '10' } : sample),
        headers: (x) => ({ authorization: `Bearer ${x.tokens.access_token}`, accept: 'application/json' }),
      });
    }
  }
  return targets;
}
