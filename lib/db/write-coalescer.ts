/**
 * Group commit for writes that are independent of each other: the writes handed in during one
 * turn of the event loop — by requests that finished their work in it — go to the database as
 * one statement, so one round trip and one commit instead of one each. Each caller still waits
 * for its own rows to be committed before it answers.
 *
 * - Writes touching the same row never share a statement (PostgreSQL cannot upsert one row
 *   twice in a statement, and their order matters): a write that overlaps one already in the
 *   group starts the next group, and groups are sent one after another, in order.
 * - A statement is all-or-nothing for everyone in it. When a shared statement fails, each
 *   write is sent again on its own, so a write that cannot be stored (say, a hostile value)
 *   fails only its own caller, and an outage fails each caller with its own error.
 */
export type CoalescibleWrite = { readonly keys: readonly string[] };

export type WriteCoalescer<W extends CoalescibleWrite> = { write(write: W): Promise<void> };

export function createWriteCoalescer<W extends CoalescibleWrite>(deps: { send(write: W): Promise<void>; merge(writes: W[]): W }): WriteCoalescer<W> {
  type Waiting = { write: W; resolve(): void; reject(err: unknown): void };
  let queue: Waiting[] = [];

  const sendEach = (group: Waiting[]) =>
    Promise.all(group.map((w) => deps.send(w.write).then(w.resolve, w.reject)));

  async function sendGroup(group: Waiting[]) {
    if (group.length === 1) return sendEach(group);
    try {
      await deps.send(deps.merge(group.map((w) => w.write)));
    } catch {
      return sendEach(group);
    }
    for (const w of group) w.resolve();
  }

  async function flush() {
    const waiting = queue;
    queue = [];
    const groups: Waiting[][] = [];
    let group: Waiting[] = [];
    let keys = new Set<string>();
    for (const w of waiting) {
      if (w.write.keys.some((k) => keys.has(k))) {
        groups.push(group);
        group = [];
        keys = new Set();
      }
      group.push(w);
      for (const k of w.write.keys) keys.add(k);
    }
    groups.push(group);
    for (const g of groups) await sendGroup(g).catch((err: unknown) => g.forEach((w) => w.reject(err)));
  }

  return {
    write(write) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ write, resolve, reject });
        // after the I/O of this turn: every request that finished its work in it has handed in its rows
        if (queue.length === 1) setImmediate(() => void flush());
      });
    },
  };
}
