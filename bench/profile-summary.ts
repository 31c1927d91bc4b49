import fs from 'node:fs';

/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --profile`): where the process spent its
 * busy time (idle samples left out), by package or Latch file (self and inclusive) and by
 * function (self). Percentages are of the busy time, so two profiles compare directly.
 * Usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]
 */
type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

function groupOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  const own = /\/((?:lib|adapters|bench)\/.+)$/.exec(url);
  return own ? own[1]! : url;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: bench/profile-summary.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfByGroup = new Map<string, number>();
const inclusiveByGroup = new Map<string, number>();
const selfByFunction = new Map<string, number>();
let total = 0;
let sampled = 0;
const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);

profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id);
  if (!node) return;
  sampled += us;
  if (node.callFrame.functionName === '(idle)') return;
  total += us;
  const { url, functionName, lineNumber } = node.callFrame;
  add(selfByGroup, groupOf(url, functionName), us);
  add(selfByFunction, `${functionName || '(anonymous)'} ${groupOf(url, functionName)}:${lineNumber + 1}`, us);
  const seen = new Set<string>();
  for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
    const frame = byId.get(cursor)!.callFrame;
    const group = groupOf(frame.url, frame.functionName);
    if (!seen.has(group)) {
      seen.add(group);
      add(inclusiveByGroup, group, us);
    }
  }
});

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${key}`);
};
console.log(`${file}: ${(sampled / 1e6).toFixed(1)} s sampled, ${(total / 1e6).toFixed(1)} s busy`);
print('self time by package / file', selfByGroup);
print('inclusive time by package / file (each counted once per stack)', inclusiveByGroup);
print('self time by function', selfByFunction);
