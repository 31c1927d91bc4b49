import { Eta } from 'eta';
import { VIEWS_DIR } from './views-dir.js';

/**
 * Server-side templates (Eta: escapes every `<%= %>` by default, compiled once and cached).
 * Templates live in views/; none carries inline script, so the CSP needs no 'unsafe-inline'.
 * Only with NODE_ENV=development is each template read and compiled again on every render, so
 * an edited template shows without a restart; anywhere else (production, tests, the bench, a
 * plain `npm start`) reading and compiling a page on every request would be wasted work.
 */

export type Renderer = ReturnType<typeof createRenderer>;

export function createRenderer(options: { reloadTemplates: boolean }) {
  const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, cache: !options.reloadTemplates, autoTrim: false });
  return {
    render(view: string, data: Record<string, unknown>): string {
      return eta.render(view, data);
    },
  };
}
