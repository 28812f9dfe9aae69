/**
 * SIGKILL of the worker process between push and PR: the loopback GitHub holds the PR
 * create open (after making the PR, or before), the test kills the worker then, and a new
 * worker finishes the task. The branch is on the remote and there is exactly one PR.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devServerForFile, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { agentInput, agentSpec, startAgentTask, taskResultOf } from '../agent/helpers';
import { git, GITHUB_REPO, prSettings, remote, writesThenFinishes } from './helpers';
import { deliveryBranch } from '../../workflows/branches';

const server = devServerForFile();

for (const when of ['after GitHub made the PR', 'before GitHub made the PR'] as const) {
  test(`SIGKILL while the PR create is in flight (${when}): one PR, branch on the remote`, async () => {
    const bare = remote();
    const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
    const fake = await startFakeAnthropic({ byTurn: (turn) => writesThenFinishes({ 'kept.txt': 'work\n' }, turn) });
    const workers: WorkerProcess[] = [];
    let pushedBeforeKill: string | undefined;
    let branch = '';
    let crashed: Promise<void> | undefined;
    const vars = {
      NIGHTSHIFT_ROOT: testConfig(server.env).root,
      TEMPORAL_ADDRESS: server.env.address,
      TEMPORAL_NAMESPACE: 'default',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: fake.url,
      GITHUB_TOKEN: 'ghs_test',
      GITHUB_API_URL: gh.url,
    };
    gh.fault({
      method: 'POST',
      path: /\/pulls$/,
      apply: when === 'after GitHub made the PR',
      hang: true,
      onHit: () => {
        pushedBeforeKill = git(bare, 'rev-parse', `refs/heads/${branch}`);
        crashed = (async () => {
          await workers[0].kill('SIGKILL');
          workers.push(await spawnWorker(vars));
        })();
      },
    });
    try {
      workers.push(await spawnWorker(vars));
      const input = agentInput(agentSpec({ id: 'crash-pr', repo: bare, createPr: true, pullRequest: prSettings() }), {
        heartbeatTimeoutMs: 2000,
      });
      branch = deliveryBranch(input.batchId, input.date, 'crash-pr');
      const handle = await startAgentTask(server.env, input);
      const result = await taskResultOf(handle);
      await crashed;
      assert.ok(crashed, 'the worker was killed during the PR create');
      assert.equal(result.status, 'succeeded', result.error);
      assert.equal(result.deliveryError, undefined);
      assert.equal(pushedBeforeKill, result.commit, 'the push had landed before the kill');
      assert.equal(git(bare, 'rev-parse', `refs/heads/${branch}`), result.commit);
      const pulls = gh.pulls(GITHUB_REPO);
      assert.equal(pulls.length, 1, 'exactly one PR');
      assert.equal(result.prUrl, pulls[0].html_url);
      assert.equal(pulls[0].head.sha, result.commit);
      const creates = gh.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/pulls')).length;
      assert.equal(
        creates,
        when === 'after GitHub made the PR' ? 1 : 2,
        'the new worker created only if the first had not',
      );
    } finally {
      for (const w of workers) await w.kill('SIGKILL');
      await fake.close();
      await gh.close();
    }
  });
}
