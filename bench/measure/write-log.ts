/**
 * Database writes counted from a query log: each INSERT, UPDATE or DELETE statement is one
 * write, labelled by statement and table — and for oidc_payloads by model, read from the
 * bindings — so a report can say which writes a flow makes, not only how many. A statement
 * that writes several rows at once (a request's batched adapter writes) is one write,
 * labelled with the rows it names in its query context.
 */
export type WriteCounts = { total: number; byKind: Record<string, number> };

const WRITE = /^\s*(?:with\b[\s\S]*?\)\s*)?(insert\s+into|update|delete\s+from)\s+"?(\w+)"?/i;

export function writeKind(sql: string, bindings: readonly unknown[] | undefined, rows?: readonly string[]): string | undefined {
  const match = WRITE.exec(sql);
  if (!match) return undefined;
  if (rows && rows.length > 1) return `one statement on ${match[2]!} (${[...rows].sort().join(', ')})`;
  const verb = match[1]!.split(/\s+/)[0]!.toLowerCase();
  const table = match[2]!;
  if (table !== 'oidc_payloads') return `${verb} ${table}`;
  let model: unknown;
  if (verb === 'insert') {
    const columns = /\(([^)]*)\)\s*values/i.exec(sql)?.[1]?.split(',').map((c) => c.trim().replace(/"/g, ''));
    const index = columns?.indexOf('model') ?? -1;
    model = index >= 0 ? bindings?.[index] : undefined;
  } else {
    const placeholder = /"model"\s*=\s*\$(\d+)/.exec(sql)?.[1];
    model = placeholder ? bindings?.[Number(placeholder) - 1] : undefined;
  }
  return `${verb} ${table}${typeof model === 'string' ? ` ${model}` : ''}`;
}

/** Counts writes while started; `stop` returns what was counted since `start`. */
export function createWriteCounter() {
  let counts: Map<string, number> | undefined;
  return {
    get active() {
      return counts !== undefined;
    },
    record(kind: string | undefined) {
      if (!counts || !kind) return;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    },
    start() {
      counts = new Map();
    },
    stop(): WriteCounts {
      const byKind = Object.fromEntries([...(counts ?? [])].sort(([a], [b]) => a.localeCompare(b)));
      counts = undefined;
      return { total: Object.values(byKind).reduce((sum, n) => sum + n, 0), byKind };
    },
  };
}
