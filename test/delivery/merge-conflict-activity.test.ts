/**
 * prepareFromDependencies with `on_merge_conflict: agent` as single activities on real
 * repositories: the clean merges are made first and the conflicting one is left in
 * progress; a retry finds it and changes nothing; prepareAgent's first message names it;
 * checkMergeResolution follows the markers; two conflicting dependencies still fail.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../activities/task/sandbox-steps';
import { createDeliveryActivities } from '../../activities/task/delivery';
import { FileTranscriptStore, getJson, keys, type PromptRecord } from '../../activities/task/transcripts';
import { createLocalProvider, shutdownIsolation, type LocalSandbox } from '../../sandbox/local';
import { routeSandboxes } from '../../sandbox/router';
import type { DependencyBranch } from '../../workflows/task/messages';
import { agentSpec } from '../agent/helpers';
import { gitIn, makeRepo, tempDir } from '../sandbox/helpers';

after(() => shutdownIsolation());

const run = <I, O>(fn: (i: I) => Promise<O>, i: I) => new MockActivityEnvironment().run(fn, i) as Promise<O>;

/** A remote with dependency branches made from main by `files`; returns the remote and the branches. */
function remoteWith(branches: Record<string, Record<string, string>>): { bare: string; deps: DependencyBranch[] } {
  const { repo, bare } = makeRepo();
  const deps = Object.entries(branches).map(([name, files]) => {
    gitIn(repo, 'checkout', '-q', '-B', name, 'main');
    for (const [f, content] of Object.entries(files)) writeFileSync(path.join(repo, f), content);
    gitIn(repo, 'add', '.');
    gitIn(repo, 'commit', '-q', '-m', name);
    execFileSync('git', ['push', '-q', bare, `${name}:refs/heads/${name}`], { cwd: repo });
    return { taskId: `t-${name}`, branch: name, commit: gitIn(repo, 'rev-parse', 'HEAD'), pushed: true };
  });
  return { bare, deps };
}

async function setup() {
  const root = tempDir('conflict-root');
  const sandboxes = createLocalProvider({ root: path.join(root, '.nightshift', 'sandboxes') });
  const transcripts = new FileTranscriptStore({ dir: path.join(root, 't') });
  const delivery = createDeliveryActivities({ config: { root, github: {} }, sandboxes, transcripts });
  const agent = createAgentActivities({
    config: { root },
    sandboxes: routeSandboxes({ local: sandboxes }),
    transcripts,
  });
  const sandbox = (await sandboxes.create({ key: `conflict/${Math.random()}` })) as LocalSandbox;
  return { root, delivery, agent, sandbox, transcripts };
}

test('the clean merges first, the conflicting one left in progress; a retry changes nothing; the prompt and the marker check follow it', async () => {
  const { bare, deps } = remoteWith({
    a: { 'x.txt': 'from a\n' },
    b: { 'x.txt': 'from b\n' },
    c: { 'y.txt': 'from c\n' },
  });
  const { delivery, agent, sandbox, transcripts } = await setup();
  const task = agentSpec({ id: 't-d', repo: bare, onMergeConflict: 'agent' });
  const input = { workflowId: 'night/t-d', sandboxId: sandbox.id, task, dependencies: deps };
  const ws = sandbox.workspaceDir;
  const wsGit = (...args: string[]) => gitIn(ws, ...args);

  const first = await run(delivery.prepareFromDependencies, input);
  assert.deepEqual(first.conflict, {
    taskId: 't-b',
    branch: 'b',
    commit: deps[1].commit,
    into: ['t-a', 't-c'],
    files: ['x.txt'],
  });
  assert.equal(wsGit('rev-parse', 'MERGE_HEAD'), deps[1].commit);
  assert.deepEqual(
    wsGit('log', '-1', '--format=%P', 'HEAD').split(' '),
    [deps[0].commit, deps[2].commit],
    'c was merged into a before b was tried again',
  );
  const headBefore = wsGit('rev-parse', 'HEAD');

  const again = await run(delivery.prepareFromDependencies, input);
  assert.deepEqual(again, first, 'a retry finds the merge left for the agent');
  assert.equal(wsGit('rev-parse', 'HEAD'), headBefore);
  assert.equal(wsGit('rev-parse', 'MERGE_HEAD'), deps[1].commit);

  await run(agent.prepareAgent, { workflowId: 'night/t-d', sandboxId: sandbox.id, task });
  const prompt = await getJson<PromptRecord>(transcripts, 'night/t-d', keys.prompt);
  assert.match(
    prompt!.firstMessage,
    /^Start on task t-d: [\s\S]*\n\n## Merge conflict: resolve it first\n\n[\s\S]*Merging the branch of t-b \(b\) into the work of t-a, t-c conflicts[\s\S]*: x\.txt\./,
  );

  assert.deepEqual(
    (await run(delivery.checkMergeResolution, { workflowId: 'night/t-d', sandboxId: sandbox.id })).unresolved,
    ['x.txt'],
  );
  await sandbox.writeFile('x.txt', 'from a and b\n');
  const resolved = await run(delivery.checkMergeResolution, { workflowId: 'night/t-d', sandboxId: sandbox.id });
  assert.deepEqual(resolved.unresolved, []);
  assert.equal(resolved.conflict?.taskId, 't-b');
  // A task with no merge left to it has nothing to check.
  assert.deepEqual(await run(delivery.checkMergeResolution, { workflowId: 'night/other', sandboxId: sandbox.id }), {
    unresolved: [],
  });
});

test('two dependencies that each conflict: the task fails naming both, with or without the agent', async () => {
  const { bare, deps } = remoteWith({
    a: { 'x.txt': 'from a\n' },
    b: { 'x.txt': 'from b\n' },
    c: { 'x.txt': 'from c\n' },
  });
  const { delivery, sandbox } = await setup();
  const task = agentSpec({ id: 't-d', repo: bare, onMergeConflict: 'agent' });
  await assert.rejects(
    run(delivery.prepareFromDependencies, { workflowId: 'night/t-d', sandboxId: sandbox.id, task, dependencies: deps }),
    (err: ApplicationFailure) => {
      assert.equal(err.type, 'MergeConflict');
      assert.equal(err.nonRetryable, true);
      assert.match(
        err.message,
        /t-b \(b\) in x\.txt; t-c \(c\) in x\.txt; on_merge_conflict: agent leaves one conflicting merge to the agent, not 2/,
      );
      return true;
    },
  );
  const other = await setup();
  await assert.rejects(
    run(other.delivery.prepareFromDependencies, {
      workflowId: 'night/t-e',
      sandboxId: other.sandbox.id,
      task: { ...task, onMergeConflict: 'fail' },
      dependencies: deps,
    }),
    /merging t-b \(b\) into t-a conflicts in x\.txt; .*or set on_merge_conflict: agent/,
  );
});
