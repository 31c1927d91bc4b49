import type { Command } from 'commander';

/**
 * Ids that Latch makes — client ids, key ids (RFC 7638 thumbprints) — are base64url and may
 * begin with a dash, which a command-line parser reads as an option (`latch clients show
 * -lmOd…` → "unknown option"). This moves such words behind a `--`, where they are arguments,
 * keeping every real option (and the value an option takes) where it was.
 */
const ID_LIKE = /^-[A-Za-z0-9_-]{15,}$/;

function optionsOf(command: Command): Map<string, boolean> {
  const options = new Map<string, boolean>([['--help', false], ['-h', false]]);
  const visit = (c: Command) => {
    for (const o of c.options) {
      if (o.long) options.set(o.long, o.required || o.optional);
      if (o.short) options.set(o.short, o.required || o.optional);
    }
    c.commands.forEach(visit);
  };
  visit(command);
  return options;
}

export function idsAsArguments(argv: string[], program: Command): string[] {
  const [node, script, ...rest] = argv;
  const end = rest.indexOf('--');
  const words = end < 0 ? rest : rest.slice(0, end);
  const afterEnd = end < 0 ? [] : rest.slice(end + 1);
  const options = optionsOf(program);
  const kept: string[] = [];
  const ids: string[] = [];
  for (const [i, word] of words.entries()) {
    const previous = i > 0 ? words[i - 1]! : '';
    const isOption = options.has(word.split('=')[0]!);
    const isOptionValue = options.get(previous) === true;
    if (ID_LIKE.test(word) && !isOption && !isOptionValue) ids.push(word);
    else kept.push(word);
  }
  if (!ids.length) return argv;
  return [node!, script!, ...kept, '--', ...ids, ...afterEnd];
}
