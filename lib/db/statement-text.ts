/**
 * Written-out statements whose lists vary in length (the look-ups of a per-turn batch). Each
 * length gets its own text, `in (?, ?, ?)`, made once and then reused, so PostgreSQL prepares
 * it once per connection (prepared-statements.ts) and plans it once. One text for every length
 * — `= any(?)` with an array — would not be planned once: PostgreSQL's generic plan for it
 * assumes a long array and costs many times the plan made for the values at hand, so it plans
 * again on every execution (on a look-up by primary key that took PostgreSQL's CPU per token
 * introspection from 0.04 to 0.07 ms).
 */
export const marks = (n: number) => listOf(n, '?');

/** `n` items separated by commas: placeholders, tuples of them, the rows of a VALUES list. */
export const listOf = (n: number, item: string | ((i: number) => string)) =>
  Array.from({ length: n }, (_, i) => (typeof item === 'string' ? item : item(i))).join(', ');

/** The statement text for each combination of list lengths, built once by `text`. */
export function textPerShape<L extends number[]>(text: (...lengths: L) => string): (...lengths: L) => string {
  const texts = new Map<string, string>();
  return (...lengths) => {
    const shape = lengths.join(',');
    let sql = texts.get(shape);
    if (sql === undefined) texts.set(shape, (sql = text(...lengths)));
    return sql;
  };
}
