import { expect } from 'chai';
import { parseOptions } from '../../bench/options.js';

describe('bench options: --versus-env and --node-flag', () => {
  it('sets and takes out variables for the --versus instance only', () => {
    const options = parseOptions(['--only', '6', '--versus', 'HEAD', '--versus-env', 'MALLOC_MMAP_THRESHOLD_=', '--versus-env', 'GLIBC_TUNABLES=glibc.malloc.arena_max=2']);
    expect(options.versus).to.equal('HEAD');
    expect(options.versusEnv).to.deep.equal({ MALLOC_MMAP_THRESHOLD_: undefined, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    expect(Object.keys(options.versusEnv)).to.include('MALLOC_MMAP_THRESHOLD_');
    expect(parseOptions([]).versusEnv).to.deep.equal({});
  });

  it('refuses a setting without a name, or without --versus', () => {
    expect(() => parseOptions(['--versus', 'HEAD', '--versus-env', 'NOEQUALS'])).to.throw(/NAME=VALUE/);
    expect(() => parseOptions(['--versus', 'HEAD', '--versus-env', '=value'])).to.throw(/NAME=VALUE/);
    expect(() => parseOptions(['--versus-env', 'A=b'])).to.throw(/needs --versus/);
    expect(() => parseOptions(['--versus', 'HEAD', '--versus-env'])).to.throw(/needs a value/);
  });

  it('collects node flags for every server, in order', () => {
    expect(parseOptions(['--smoke', '--node-flag', '--perf-basic-prof', '--node-flag', '--interpreted-frames-native-stack']).nodeFlags).to.deep.equal(['--perf-basic-prof', '--interpreted-frames-native-stack']);
    expect(parseOptions(['--smoke']).nodeFlags).to.deep.equal([]);
  });
});
