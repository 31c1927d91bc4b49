import { expect } from 'chai';
import { createUseMarker } from '../../lib/db/use-marks.js';

/** Last-use marks: at most one per row per resolution, written together, retried after a failure. */
describe('use marks', () => {
  function marker(opts: { fail?: boolean } = {}) {
    let now = 1_000_000;
    const writes: Array<{ ids: string[]; at: number; staleBefore: number }> = [];
    const errors: unknown[] = [];
    const uses = createUseMarker({
      resolutionMs: 60_000,
      flushMs: 60_000,
      now: () => now,
      write: async (ids, at, staleBefore) => {
        if (opts.fail) throw new Error('database down');
        writes.push({ ids: [...ids], at: at.getTime(), staleBefore: staleBefore.getTime() });
      },
      onError: (err) => errors.push(err),
    });
    return { uses, writes, errors, advance: (ms: number) => (now += ms), fail: (value: boolean) => (opts.fail = value) };
  }

  it('writes the marks made since the last write as one statement, each row once', async () => {
    const { uses, writes } = marker();
    for (const id of ['a', 'b', 'a', 'c', 'b']) uses.mark(id);
    await uses.flush();
    expect(writes).to.deep.equal([{ ids: ['a', 'b', 'c'], at: 1_000_000, staleBefore: 1_000_000 - 60_000 }]);
    await uses.flush();
    expect(writes, 'nothing due, nothing written').to.have.length(1);
  });

  it('marks a row again only once the resolution has passed', async () => {
    const { uses, writes, advance } = marker();
    uses.mark('a');
    await uses.flush();
    advance(59_000);
    uses.mark('a');
    await uses.flush();
    expect(writes).to.have.length(1);
    advance(1_000);
    uses.mark('a');
    await uses.flush();
    expect(writes.map((w) => w.ids)).to.deep.equal([['a'], ['a']]);
  });

  it('forgets marks it could not write, so the next use marks the row again', async () => {
    const { uses, writes, errors, fail } = marker({ fail: true });
    uses.mark('a');
    await uses.flush();
    expect(errors).to.have.length(1);
    fail(false);
    uses.mark('a');
    await uses.flush();
    expect(writes.map((w) => w.ids)).to.deep.equal([['a']]);
  });

  it('writes on its own a second after the first mark', async () => {
    const writes: string[][] = [];
    const uses = createUseMarker({ resolutionMs: 60_000, flushMs: 20, write: async (ids) => void writes.push([...ids]), onError: () => undefined });
    uses.mark('x');
    uses.mark('y');
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(writes).to.deep.equal([['x', 'y']]);
  });
});
