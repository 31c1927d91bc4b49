import { expect } from 'chai';
import { formatReport, runSoak } from '../../bench/soak/soak.js';
import { OP_KINDS } from '../support/workload.js';

/**
 * `npm run soak` end to end, for a few seconds: Latch in its own process under the mixed load,
 * and a complete report. Drift and growth are not judged here (a few seconds say nothing
 * about them); errors are.
 */
describe('npm run soak (a few seconds)', function () {
  this.timeout(180_000);

  it('runs the mixed load against a Latch process and reports errors, p99, RSS and CPU per window', async () => {
    const report = await runSoak({ durationS: 6, ratePerSecond: 10, concurrency: 8, warmupS: 2, windowS: 2 });
    for (const kind of OP_KINDS) expect(report.byKind[kind].count, kind).to.be.a('number');
    expect(report.byKind.clientCredentials.count + report.byKind.introspect.count).to.be.greaterThan(5);
    expect(report.serverErrors).to.equal(0);
    expect(report.noAnswer, `no answer: ${report.noAnswerProblems.join('; ')}`).to.equal(0);
    expect(report.errorLogLines).to.equal(0);
    expect(report.wrongAnswers).to.deep.equal([]);
    expect(report.windows.length).to.be.at.least(2);
    for (const w of report.windows) {
      expect(w.rssMb, 'RSS of the Latch process').to.be.greaterThan(10);
      expect(w.latchCores, 'CPU of the Latch process').to.be.greaterThan(0);
      expect(w.cpuMsPerOp, 'CPU per operation').to.be.greaterThan(0);
      expect(w.otherCores, 'CPU of other work').to.be.at.least(0);
      // a 2 s window at 10 operations/s can use less of PostgreSQL than one 10 ms clock tick; the whole run cannot
      if (report.database === 'postgres') expect(w.databaseCores, 'CPU of the PostgreSQL server in a window').to.be.at.least(0);
      else expect(w.databaseCores, 'no server of its own: PGlite runs in Latch').to.equal(0);
    }
    expect(report.cpuSeconds.latch, 'CPU of the Latch process over the run').to.be.greaterThan(0);
    if (report.database === 'postgres') expect(report.cpuSeconds.database, 'CPU of the PostgreSQL server for the soak over the run').to.be.greaterThan(0);
    else expect(report.cpuSeconds.database, 'no server of its own: PGlite runs in Latch').to.equal(0);
    expect(Number.isFinite(report.p99DriftPercent)).to.equal(true);
    expect(Number.isFinite(report.rssGrowthPercent)).to.equal(true);
    expect(formatReport(report)).to.match(/p99 drift, first to last window: -?[\d.]+ %/);
    expect(formatReport(report)).to.match(/CPU per operation, first to last window: [\d.]+ → [\d.]+ ms/);
  });
});
