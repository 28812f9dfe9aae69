/** The policy reads the package.json scripts and script files a command runs through the sandbox, bounded. */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bashTool } from '../../activities/task/tools/shell';
import { PolicyViolation } from '../../common/errors';
import { createLocalProvider, type LocalSandbox } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { checkCommandInSandbox, DEFAULT_SAFETY_POLICY, MAX_POLICY_FILE_BYTES } from '../../sandbox/policy';
import { tempDir } from './helpers';

describe('the policy reads scripts through the sandbox', () => {
  const provider = createLocalProvider({
    root: path.join(tempDir('policy-sb'), '.nightshift', 'sandboxes'),
    pidsLimit: 64,
  });
  let sb: LocalSandbox;
  const bash = (command: string) =>
    bashTool({ command }, { sandbox: sb, workspaceRoot: sb.workspaceDir, policy: DEFAULT_SAFETY_POLICY });
  const refusedBy = (rule: string) => (e: unknown) => e instanceof PolicyViolation && e.rule === rule;

  before(async () => {
    sb = (await provider.create({ key: 'policy/files' })) as LocalSandbox;
    await sb.writeFile(
      'package.json',
      JSON.stringify({
        scripts: { test: 'echo tests-ran', 'db:deploy': 'prisma migrate deploy', ship: 'sh tools/ship.sh' },
      }),
    );
    await sb.writeFile('tools/ship.sh', 'set -e\ngit push origin HEAD\n');
    await sb.writeFile('tools/ok.sh', 'echo ok-ran\n');
  });
  after(async () => {
    await sb.kill();
    await shutdownIsolation();
  });

  it('runs what the scripts allow and refuses what they hide', async () => {
    const ran = await bash('npm test 2>&1 | tail -n 3; sh tools/ok.sh');
    assert.equal(ran.isError, false, ran.content);
    assert.match(ran.content, /ok-ran/);
    await assert.rejects(bash('npm run db:deploy'), refusedBy('no-db-migrations'));
    await assert.rejects(bash('npm run ship'), refusedBy('no-git-writes'));
    await assert.rejects(bash('sh tools/ship.sh'), refusedBy('no-git-writes'));
  });

  it('a package.json it cannot parse, a huge one or a FIFO in its place is refused, without blocking', async () => {
    await sb.writeFile('broken/package.json', '{"scripts": ');
    await assert.rejects(bash('cd broken && npm test'), refusedBy('no-git-writes'));
    await sb.writeFile(
      'huge/package.json',
      JSON.stringify({ scripts: { test: 'echo hi' }, pad: 'x'.repeat(MAX_POLICY_FILE_BYTES) }),
    );
    await assert.rejects(bash('cd huge && npm test'), refusedBy('no-git-writes'));
    const made = await sb.exec('mkdir fifo && mkfifo fifo/package.json && mkfifo tools/fifo.sh && echo made');
    assert.equal(made.stdout.trim(), 'made', made.stderr);
    const started = Date.now();
    await assert.rejects(bash('cd fifo && npm test'), refusedBy('no-git-writes'));
    await assert.rejects(
      checkCommandInSandbox('sh tools/fifo.sh', DEFAULT_SAFETY_POLICY, sb.workspaceDir, sb),
      refusedBy('no-git-writes'),
    );
    await assert.rejects(
      checkCommandInSandbox(
        'mkfifo f.sh; (echo "git push" > f.sh &); sh f.sh',
        DEFAULT_SAFETY_POLICY,
        sb.workspaceDir,
        sb,
      ),
      refusedBy('no-git-writes'),
    );
    assert.ok(Date.now() - started < 4_000, 'the check did not wait on the FIFO');
  });
});
