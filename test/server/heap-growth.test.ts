import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { heapGrowthFlag, HEAP_GROWING_PERCENT } from '../../lib/server.js';

/**
 * startServer bounds how far V8 grows the old generation between full collections. The flag
 * must still mean something to this Node's V8: a process that makes garbage the way a loaded
 * server does (objects that outlive two young-generation collections, then die) is run with
 * and without it, and its heap's peak must be clearly lower with it. Memory is not timing: the
 * figures depend on V8's heuristics, not on the machine's speed.
 */
const GARBAGE_MAKER = `
const v8 = require('node:v8');
if (process.argv[1]) v8.setFlagsFromString(process.argv[1]);
const live = [];
for (let i = 0; i < 200000; i++) live.push({ i, s: 'x'.repeat(40) + i });
let ring = [];
let peak = 0;
for (let step = 0; step < 1500; step++) {
  for (let k = 0; k < 2000; k++) ring.push({ a: new Array(20).fill(k), b: 'y' + k });
  if (ring.length > 40000) ring = ring.slice(-20000);
  peak = Math.max(peak, process.memoryUsage().heapTotal);
}
console.log(JSON.stringify({ peakMb: peak / 1048576, live: live.length }));
`;

function peakHeapMb(flag?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', GARBAGE_MAKER, ...(flag ? [flag] : [])], { timeout: 60_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve((JSON.parse(stdout) as { peakMb: number }).peakMb);
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

  it("keeps this Node's heap clearly smaller under promoted garbage than V8's own choice", async () => {
    const unbounded = await peakHeapMb();
    const bounded = await peakHeapMb(heapGrowthFlag([]));
    expect(bounded, `peak heap ${bounded.toFixed(0)} MB with the flag, ${unbounded.toFixed(0)} MB without`).to.be.below(unbounded * 0.75);
  });
});
