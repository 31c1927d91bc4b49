import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/**
 * Server-side templates (Eta: escapes every `<%= %>` by default, compiled once and cached).
 * Templates live in views/; none carries inline script, so the CSP needs no 'unsafe-inline'.
 */
const viewsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

export type Renderer = ReturnType<typeof createRenderer>;

export function createRenderer(options: { production: boolean }) {
  const eta = new Eta({ views: viewsDir, autoEscape: true, cache: options.production, autoTrim: false });
  return {
    render(view: string, data: Record<string, unknown>): string {
      return eta.render(view, data);
    },
  };
}
