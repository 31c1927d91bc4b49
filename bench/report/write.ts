import fs from 'node:fs';
import path from 'node:path';
import { renderMarkdown } from './markdown.js';
import type { BenchReport } from './model.js';

/** Writes <timestamp>.json and <timestamp>.md; returns their paths and the Markdown. */
export function writeReport(report: BenchReport, outDir: string) {
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const jsonPath = path.join(outDir, `${stamp}.json`);
  const mdPath = path.join(outDir, `${stamp}.md`);
  const markdown = renderMarkdown(report);
  fs.writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(mdPath, markdown);
  return { jsonPath, mdPath, markdown };
}
