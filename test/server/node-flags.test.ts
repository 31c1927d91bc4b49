import fs from 'node:fs';
import { expect } from 'chai';
import { DEPLOYED_NODE_FLAGS } from '../../bench/servers/start.js';

/**
 * Latch's Node flags are given where Latch is started: the Dockerfile's CMD and `npm start`.
 * The bench starts Latch with its own list of them; the three must agree, or the bench
 * measures a Latch no deployment runs.
 */
describe('the Node flags Latch is started with', () => {
  const dockerCmd = (): string[] => {
    const line = fs.readFileSync('Dockerfile', 'utf8').split('\n').find((l) => l.startsWith('CMD '));
    return JSON.parse(line!.slice(4)) as string[];
  };
  const npmStart = (): string => (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start!;

  it("are the bench's, in the Dockerfile's CMD and in npm start", () => {
    expect(DEPLOYED_NODE_FLAGS).to.include('--max-semi-space-size=16');
    const cmd = dockerCmd();
    expect(cmd[0]).to.equal('node');
    expect(cmd.slice(1, -1)).to.deep.equal(DEPLOYED_NODE_FLAGS);
    expect(cmd.at(-1)).to.equal('dist/server/lib/main.js');
    expect(npmStart()).to.include(`node ${DEPLOYED_NODE_FLAGS.join(' ')} dist/server/lib/main.js`);
  });
});
