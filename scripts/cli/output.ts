/** Printing for the CLI: JSON with --json, otherwise a table or a sentence. */
export type Columns = Array<[key: string, header: string]>;

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.join(' ');
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value)) return value;
  return String(value);
}

export function formatTable(rows: Array<Record<string, unknown>>, columns: Columns): string {
  if (!rows.length) return '(none)';
  const table = [columns.map(([, header]) => header), ...rows.map((row) => columns.map(([key]) => cell(row[key])))];
  const widths = columns.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return table.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function printResult(result: unknown, opts: { json: boolean; columns?: Columns; human?: (result: unknown) => string }) {
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
  } else if (opts.human) {
    console.log(opts.human(result));
  } else if (opts.columns) {
    console.log(formatTable(Array.isArray(result) ? result : [result as Record<string, unknown>], opts.columns));
  } else {
    for (const [key, value] of Object.entries(result as Record<string, unknown>)) {
      console.log(`${key}: ${typeof value === 'object' && value !== null && !(value instanceof Date) ? JSON.stringify(value) : cell(value)}`);
    }
  }
}
