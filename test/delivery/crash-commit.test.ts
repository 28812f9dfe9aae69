/**
 * SIGKILL of the worker in the middle of the delivery commit, on a root the next worker
 * shares: the dead attempt leaves the commit script's patch (and perhaps its bundle) in the
 * workspace, the host counts as lost, the rebuilt sandbox finds the workspace as it was
 * (`restored: 'existing'`) and delivers again. What is delivered is the agent's work, and
 * the files the dead attempt left are in neither the tree nor the way of the tree check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import { DELIVERY_BUNDLE_FILE, DELIVERY_PATCH_FILE } from '../../sandbox/workspace';
import { devServerForFile, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { agentInput, agentSpec, startAgentTask, taskResultOf } from '../agent/helpers';
import { git, remote, writesThenFinishes } from './helpers';
import { deliveryBranch } from '../../workflows/branches';

const server = devServerForFile();

/** The workspace's leftover delivery files, across every sandbox under `sandboxes`. */
function deliveryFilesIn(sandboxes: string): string[] {
  if (!existsSync(sandboxes)) return [];
  return (
    readdirSync(sandboxes)
      .filter((d) => d.startsWith('sbx-'))
      // The workspace sits on the sandbox's disk volume when it has one.
      .flatMap((d) =>
        ['workspace', path.join('volume', 'workspace')].flatMap((ws) =>
          [DELIVERY_PATCH_FILE, DELIVERY_BUNDLE_FILE].map((f) => path.join(sandboxes, d, ws, f)),
        ),
      )
      .filter((f) => existsSync(f))
  );
}

test('SIGKILL mid-commit on a shared root: the rebuilt sandbox delivers the checked work', async () => {
  const bare = remote();
  const fake = await startFakeAnthropic({ byTurn: (turn) => writesThenFinishes({ 'kept.txt': 'work\n' }, turn) });
  const root = testConfig(server.env).root;
  const sandboxes = path.join(stateDir({ root }), 'sandboxes');
  const vars = {
    NIGHTSHIFT_ROOT: root,
    TEMPORAL_ADDRESS: server.env.address,
    TEMPORAL_NAMESPACE: 'default',
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
  };
  const workers: WorkerProcess[] = [];
  let leftBehind: string[] = [];
  let crashed: Promise<void> | undefined;
  // The commit script writes its patch into the workspace and the worker removes it after
  // reading it back: the worker dies inside that window, as a host lost mid-commit would.
  const watch = setInterval(() => {
    if (crashed || !workers[0]) return;
    const found = deliveryFilesIn(sandboxes);
    if (!found.length) return;
    clearInterval(watch);
    crashed = (async () => {
      await workers[0].kill('SIGKILL');
      leftBehind = deliveryFilesIn(sandboxes).map((f) => path.basename(f));
      workers.push(await spawnWorker(vars));
    })();
  }, 2);
  try {
    workers.push(await spawnWorker(vars));
    const input = agentInput(agentSpec({ id: 'crash-commit', repo: bare }), {
      heartbeatTimeoutMs: 2000,
      hostScheduleToStartMs: 3000,
    });
    const result = await taskResultOf(await startAgentTask(server.env, input));
    await crashed;
    assert.ok(crashed, 'the worker was killed during the commit');
    assert.ok(
      leftBehind.includes(DELIVERY_PATCH_FILE),
      `the dead attempt left its patch in the workspace (left: ${leftBehind.join(', ')})`,
    );
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.deliveryError, undefined);
    const branch = deliveryBranch(input.batchId, input.date, 'crash-commit');
    assert.equal(git(bare, 'rev-parse', `refs/heads/${branch}`), result.commit, 'the branch reached the remote');
    assert.deepEqual(
      git(bare, 'ls-tree', '--name-only', result.commit!).split('\n').sort(),
      ['CLAUDE.md', 'README.md', 'kept.txt'],
      'only the agent work is committed',
    );
  } finally {
    clearInterval(watch);
    await crashed?.catch(() => undefined);
    for (const w of workers) await w.kill('SIGKILL');
    await fake.close();
  }
});
