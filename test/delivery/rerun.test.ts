/**
 * What a rerun and a second batch on the same date deliver, on a real dev server with a
 * real remote: a rerun under the same workflow ID does the work again (model calls, tool
 * runs, a new commit on its branch), and two batches on one date each keep a branch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile, uniqueBatchId } from '../helpers/temporal';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { batchIdFor } from '../../contract';
import { deliveryBranch, workBranch } from '../../workflows/branches';
import { agentInput, agentSpec, runAgentTask, startAgentTask, taskResultOf } from '../agent/helpers';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, remote, taskOf, writesThenFinishes } from './helpers';

const server = devServerForFile();
const DATE = '2026-11-21';

test('a rerun under the same workflow ID calls the model, runs the tools and delivers again', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  let run = 0;
  const fake = await startFakeAnthropic({
    byTurn: (turn) => writesThenFinishes({ 'run.txt': `run ${run}\n` }, turn, `wrote run ${run}`),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const input = agentInput(agentSpec({ repo: bare }));

    run = 1;
    // A worker runs once; each run gets its own.
    const first = await runAgentTask(server.env, await deliveryWorker(server.env, config), input);
    assert.equal(first.result.status, 'succeeded', first.result.error);
    const callsAfterFirst = fake.requests.length;
    assert.equal(callsAfterFirst, 2);

    run = 2;
    const second = await runAgentTask(server.env, await deliveryWorker(server.env, config), input);
    assert.notEqual(second.firstRunId, first.firstRunId);
    assert.equal(second.result.status, 'succeeded', second.result.error);
    assert.equal(
      fake.requests.length - callsAfterFirst,
      2,
      "the rerun asked the model again instead of reading the first run's turns",
    );
    assert.equal(second.result.turns, 2);
    assert.equal(second.result.summary?.startsWith('wrote run 2'), true, second.result.summary);
    assert.equal(
      readFileSync(path.join(second.result.workDir!, 'run.txt'), 'utf8'),
      'run 2\n',
      "the rerun's tool ran in its own workspace",
    );
    assert.notEqual(second.result.workDir, first.result.workDir, "the first run's kept work is still there");
    assert.equal(readFileSync(path.join(first.result.workDir!, 'run.txt'), 'utf8'), 'run 1\n');

    // Same task of the same batch: the rerun's commit replaces its own earlier push.
    assert.equal(second.result.branch, first.result.branch);
    assert.notEqual(second.result.commit, first.result.commit);
    assert.equal(second.result.pushed, true, second.result.deliveryError);
    assert.equal(git(bare, 'show', `refs/heads/${second.result.branch}:run.txt`), 'run 2');
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('two batches on one date deliver to two branches; the default batch keeps nightshift/<date>/<task>', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => writesThenFinishes({ 'who.txt': `${taskOf(req)}\n` }, turn),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const batches = [batchIdFor(DATE), uniqueBatchId('manual'), `${uniqueBatchId('sched')}T02:00:00Z`];
    const results = [];
    for (const batchId of batches) {
      const input = { ...agentInput(agentSpec({ repo: bare })), batchId, date: DATE };
      results.push((await runAgentTask(server.env, await deliveryWorker(server.env, config), input)).result);
    }
    const branches = results.map((r) => r.branch);
    assert.deepEqual(
      branches,
      batches.map((b) => deliveryBranch(b, DATE, 'agent-1')),
    );
    assert.equal(branches[0], `nightshift/${DATE}/agent-1`);
    assert.equal(new Set(branches).size, 3, 'one branch per batch');
    assert.match(branches[2]!, /^nightshift\/sched-[^/]*T02%3A00%3A00Z\/agent-1$/);
    for (const r of results) {
      assert.equal(r.pushed, true, r.deliveryError);
      assert.equal(
        git(bare, 'rev-parse', `refs/heads/${r.branch}`),
        r.commit,
        `${r.branch} still holds its own batch's commit`,
      );
    }
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('a cancelled task delivers its work so far as a draft and reports where it is', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  let hung!: () => void;
  const reachedTurn2 = new Promise<void>((resolve) => (hung = resolve));
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) return writesThenFinishes({ 'half.txt': 'half done\n' }, 1);
      hung();
      return { status: 0, hang: true };
    },
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const input = agentInput(agentSpec({ id: 'cancel-me', repo: bare }), { heartbeatTimeoutMs: 2000 });
    const handle = await startAgentTask(server.env, input);
    const result = await (
      await deliveryWorker(server.env, config)
    ).runUntil(async () => {
      await reachedTurn2;
      await handle.cancel();
      return taskResultOf(handle);
    });
    assert.equal((await handle.describe()).status.name, 'FAILED', 'the Web UI does not show it Completed');
    assert.equal(result.status, 'cancelled');
    assert.equal(result.turns, 1);
    assert.equal(result.branch, deliveryBranch(input.batchId, input.date, 'cancel-me'));
    assert.equal(result.pushed, true, result.deliveryError);
    assert.equal(git(bare, 'show', `refs/heads/${result.branch}:half.txt`), 'half done');
    assert.ok(result.patchFile && result.workDir);
    assert.equal(readFileSync(path.join(result.workDir, 'half.txt'), 'utf8'), 'half done\n');
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('branch names: ref-safe and distinct for any batch ID', () => {
  assert.equal(deliveryBranch('nightshift-2026-11-21', '2026-11-21', 't'), 'nightshift/2026-11-21/t');
  assert.equal(
    deliveryBranch('nightshift-2026-11-21', '2026-11-22', 't'),
    'nightshift/nightshift-2026-11-21/t',
    "another night's default ID is not this night's",
  );
  assert.equal(deliveryBranch('a:b', DATE, 't'), 'nightshift/a%3Ab/t');
  assert.notEqual(deliveryBranch('a:b', DATE, 't'), deliveryBranch('a-b', DATE, 't'));
  assert.notEqual(deliveryBranch('a.b', DATE, 't'), deliveryBranch('a_b', DATE, 't'));
  assert.notEqual(
    deliveryBranch(DATE, DATE, 't'),
    deliveryBranch(batchIdFor(DATE), DATE, 't'),
    'a batch named like a date',
  );
  for (const id of ['x..y', '.hidden', 'a/b', 'end.lock', 'sp ace', 'at@{1}', 'ü']) {
    const ref = deliveryBranch(id, DATE, 't');
    assert.doesNotThrow(() => git(bare(), 'check-ref-format', `refs/heads/${ref}`), ref);
  }
  assert.equal(
    workBranch({ id: 't' }),
    'nightshift/t',
    'the agent works on nightshift/<task> unless the task names a branch',
  );
  assert.equal(workBranch({ id: 't', branch: 'feature/x' }), 'feature/x');
});

let bareRepo: string | undefined;
const bare = () => (bareRepo ??= remote());
