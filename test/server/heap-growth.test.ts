import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { heapGrowthFlag, HEAP_GROWING_PERCENT } from '../../lib/server.js';

/**
 * startServer bounds how far V8 grows the old generation between full collections. The flag
 * must still mean something to this Node's V8. A process that makes garbage the way a loaded
 * server does (objects that outlive two young-generation collections, then die) sets the flag
 * at run time, as startServer does, and V8's own trace of every new heap limit must show the
 * factor the flag names. The factor V8 picks by itself depends on how fast collection runs
 * against the program, so it is only read, never compared.
 */
const GARBAGE_MAKER = `
const v8 = require('node:v8');
if (process.argv[1]) v8.setFlagsFromString(process.argv[1]);
const live = [];
for (let i = 0; i < 200000; i++) live.push({ i, s: 'x'.repeat(40) + i });
let ring = [];
for (let step = 0; step < 1500; step++) {
  for (let k = 0; k < 2000; k++) ring.push({ a: new Array(20).fill(k), b: 'y' + k });
  if (ring.length > 40000) ring = ring.slice(-20000);
  // five full collections at the least, each setting a new limit, however fast this machine is
  if (step % 300 === 299) gc();
}
console.log(live.length);
`;

/**
 * The growth factor of every old-generation limit V8 set, from its --trace-gc-verbose lines.
 * V8 up to Node 22's prints the factor it applied at the end of each "Limit:" line, after a
 * "factor F based on …" line with the one its heuristic chose (the flag overrides it in
 * between); Node 24's V8 applies the flag before that line and leaves the factor off the limit.
 */
function limitFactors(flag?: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const args = ['--trace-gc-verbose', '--expose-gc', '-e', GARBAGE_MAKER, ...(flag ? [flag] : [])];
    execFile(process.execPath, args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const factors = (pattern: RegExp) => [...stdout.matchAll(pattern)].map((m) => Number(m[1]));
      const applied = factors(/\[HeapController\] Limit: old size: \d+ KB, new limit: \d+ KB \(([\d.]+)\)/g);
      resolve(applied.length ? applied : factors(/\[HeapController\] factor ([\d.]+) based on/g));
    });
  });
}

describe('the heap growth Latch sets', function () {
  this.timeout(120_000);

  before(function () {
    if (process.env.DATABASE_URL) {
      console.log('\n  NOTICE: the heap growth check uses no database; it runs in the embedded pass of npm test\n');
      this.skip();
    }
  });

  it('is set unless the process was started with its own', () => {
    expect(heapGrowthFlag([])).to.equal(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(heapGrowthFlag(['--enable-source-maps'])).to.equal(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(heapGrowthFlag(['--heap-growing-percent=300'])).to.equal(undefined);
    expect(heapGrowthFlag(['--heap_growing_percent=300'])).to.equal(undefined);
  });

  it("is honoured by this Node's V8 when set at run time: every new heap limit uses its factor", async () => {
    const own = await limitFactors();
    const bounded = await limitFactors(heapGrowthFlag([]));
    // Without the flag the trace must still parse, or the check below could pass on nothing.
    expect(own, "V8's trace of its own heap limits").to.not.be.empty;
    expect(bounded, 'heap limits traced with the flag').to.have.length.of.at.least(3);
    expect(new Set(bounded), `factors with the flag (V8's own were ${[...new Set(own)].join(', ')})`).to.deep.equal(new Set([1 + HEAP_GROWING_PERCENT / 100]));
  });
});
