/**
 * The Wander example on a real server: 002 and 003 run side by side after 001,
 * and 004 after both. Order is measured from each task's recorded start and end times.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
  // Command tasks ran in sandboxes: the sandbox runtime's proxies would keep the process alive.
  await shutdownIsolation();
});

const sleepTask = (id: string, deps: string[], seconds = 1.5) => ({
  id,
  title: id,
  depends_on: deps,
  command: `sleep ${seconds}`,
});

test('Wander DAG: 002 and 003 overlap after 001; 004 starts after both', async () => {
  const config = testConfig(env);
  const worker = await testWorker(env, config);
  const spec = {
    max_concurrent_agents: 3,
    tasks: [
      sleepTask('wander-001', []),
      sleepTask('wander-002', ['wander-001']),
      sleepTask('wander-003', ['wander-001']),
      sleepTask('wander-004', ['wander-002', 'wander-003']),
    ],
  };
  const result: BatchResult = await worker.runUntil(
    env.client.workflow.execute('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: uniqueBatchId(),
      args: [{ spec }],
    }),
  );
  const t = Object.fromEntries(result.tasks.map((r) => [r.taskId, r]));
  for (const r of result.tasks) assert.equal(r.status, 'succeeded', `${r.taskId}: ${r.error}`);
  assert.ok(t['wander-002'].startedAt! >= t['wander-001'].endedAt!, '002 starts after 001 ends');
  assert.ok(t['wander-003'].startedAt! >= t['wander-001'].endedAt!, '003 starts after 001 ends');
  assert.ok(
    t['wander-002'].startedAt! < t['wander-003'].endedAt! && t['wander-003'].startedAt! < t['wander-002'].endedAt!,
    '002 and 003 overlap',
  );
  assert.ok(
    t['wander-004'].startedAt! >= Math.max(t['wander-002'].endedAt!, t['wander-003'].endedAt!),
    '004 starts after both',
  );
});
