import { expect } from 'chai';
import { Command } from 'commander';
import { idsAsArguments } from '../../scripts/cli/arguments.js';

/** Ids that begin with a dash reach the command as arguments, not as unknown options. */
describe('latch: ids that begin with a dash', () => {
  const program = new Command('latch');
  program.command('clients').command('show').argument('<id>').option('--json');
  program.command('upstream').command('add').argument('<id>').requiredOption('--client-secret <secret>').option('--json');
  const argv = (...words: string[]) => ['node', 'latch', ...words];

  it('moves a dashed id behind --, keeping the options', () => {
    expect(idsAsArguments(argv('clients', 'show', '-lmOdwh48QkafccmHSsFfmJs', '--json'), program)).to.deep.equal(argv('clients', 'show', '--json', '--', '-lmOdwh48QkafccmHSsFfmJs'));
  });

  it('leaves the value of an option that takes one, real options, short words and what follows -- alone', () => {
    const withSecret = argv('upstream', 'add', 'corp', '--client-secret', '-Secret0123456789abcdef', '--json');
    expect(idsAsArguments(withSecret, program)).to.deep.equal(withSecret);
    const plain = argv('clients', 'show', 'abc', '--json');
    expect(idsAsArguments(plain, program)).to.deep.equal(plain);
    const ended = argv('clients', 'show', '--', '-lmOdwh48QkafccmHSsFfmJs');
    expect(idsAsArguments(ended, program)).to.deep.equal(ended);
    const short = argv('clients', 'show', '-x');
    expect(idsAsArguments(short, program)).to.deep.equal(short);
  });

  it('the parsed command receives the id', async () => {
    let seen: string | undefined;
    const p = new Command('latch').exitOverride();
    p.command('clients').command('show').argument('<id>').option('--json').action((id: string) => {
      seen = id;
    });
    await p.parseAsync(idsAsArguments(argv('clients', 'show', '-lmOdwh48QkafccmHSsFfmJs', '--json'), p));
    expect(seen).to.equal('-lmOdwh48QkafccmHSsFfmJs');
  });
});
