/**
 * A command task's sandbox: a retry starts from a fresh one (what an earlier attempt left
 * is gone before the command runs), and a first attempt makes one sandbox, not two: each
 * local sandbox costs a disk volume (make, mount, unmount), the largest part of an
 * instant task's time.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities, workDirFor } from '../../activities/task/sandbox-steps';
import { createCommandActivities } from '../../activities/task/command';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import { createLocalProvider, shutdownIsolation } from '../../sandbox/local';
import { routeSandboxes } from '../../sandbox/router';
import type { SandboxProvider } from '../../sandbox/types';
import { parseBatchYaml } from '../../taskfile/load';
import { tempDir } from './helpers';

describe('command task sandboxes', () => {
  const root = tempDir('command-task');
  const local = createLocalProvider({ root: path.join(root, '.nightshift', 'sandboxes') });
  const createdKeys: string[] = [];
  const counting: SandboxProvider = {
    create: (o) => {
      createdKeys.push(o.key);
      return local.create(o);
    },
    connect: (id) => local.connect(id),
    discard: (key) => local.discard!(key),
  };
  const sandboxes = routeSandboxes({ local: counting });
  const agent = createAgentActivities({
    config: { root },
    sandboxes,
    transcripts: new FileTranscriptStore({ dir: path.join(root, '.nightshift', 'transcripts') }),
  });
  const { runCommandTask } = createCommandActivities({
    config: { root },
    sandboxes,
    keepWork: (input) => new MockActivityEnvironment().run(agent.keepWork, input),
  });
  const taskRunning = (command: string, sandbox = '') =>
    parseBatchYaml(`${sandbox}tasks:\n  - id: cmd\n    command: ${JSON.stringify(command)}\n`, 'command.yaml').tasks[0];
  const run = (workflowId: string, command: string, sandbox = '') =>
    new MockActivityEnvironment().run(runCommandTask, {
      workflowId,
      task: taskRunning(command, sandbox),
    }) as ReturnType<typeof runCommandTask>;
  after(() => shutdownIsolation());

  it('a first attempt makes one sandbox and leaves none behind', async () => {
    const r = await run('night/first', 'echo ran > out.txt');
    assert.equal(r.exitCode, 0, r.outputTail);
    assert.deepEqual(
      createdKeys.filter((k) => k === 'night/first'),
      ['night/first'],
    );
    assert.equal(await local.discard!('night/first'), false, 'the sandbox was killed after the command');
    assert.equal(fs.readFileSync(path.join(workDirFor({ root }, 'night/first'), 'out.txt'), 'utf8').trim(), 'ran');
  });

  it('a retry does not see what an earlier attempt left in its sandbox', async () => {
    // A worker died mid-command: its sandbox, keyed like the task's, is still there.
    const leftover = await local.create({ key: 'night/retried' });
    await leftover.writeFile('half-done.txt', 'from attempt 1');
    const r = await run('night/retried', 'test ! -e half-done.txt && echo clean > out.txt');
    assert.equal(r.exitCode, 0, `the command saw the earlier attempt's file: ${r.outputTail}`);
    await assert.rejects(leftover.exec('true'), { name: 'SandboxGone' });
    const kept = workDirFor({ root }, 'night/retried');
    assert.deepEqual(fs.readdirSync(kept).sort(), ['out.txt']);
  });

  it("the task file's limits bound a command as they bound an agent: 96 MiB into a 64 MiB disk fails", async () => {
    const r = await run(
      'night/bounded',
      'head -c 96M /dev/zero > big; echo "exit $?"',
      'sandbox:\n  limits: { disk_mb: 64 }\n',
    );
    assert.match(r.outputTail, /No space left on device/);
    assert.match(r.outputTail, /exit 1/);
    const unbounded = await run('night/unbounded', 'head -c 96M /dev/zero > big; echo "exit $?"; rm big');
    assert.match(unbounded.outputTail, /exit 0/, 'the same write fits the default disk');
  });
});
