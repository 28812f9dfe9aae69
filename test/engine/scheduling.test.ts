/** The batch's scheduling rules on a real server: concurrency cap, priority, failures, cancel. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { batchStatusQuery, cancelTaskUpdate, TASK_QUEUE, type BatchResult } from '../../contract';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { commandRunning, loggedCommand, maxInFlight, readLog, runBatch } from '../helpers/batch';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
  // Command tasks ran in sandboxes: the sandbox runtime's proxies would keep the process alive.
  await shutdownIsolation();
});

test('never more than max_concurrent_agents tasks run at once, and the cap is reached', async () => {
  const config = testConfig(env);
  const worker = await testWorker(env, config);
  const tasks = Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, command: loggedCommand(`t${i}`, 0.6) }));
  const result = await runBatch(env, worker, { spec: { max_concurrent_agents: 3, tasks } });
  assert.deepEqual(
    result.tasks.map((t) => t.status),
    Array(10).fill('succeeded'),
  );
  assert.equal(maxInFlight(readLog(config.root)), 3);
});

test('ready tasks start in priority order (lower first), then file order', async () => {
  const config = testConfig(env);
  const worker = await testWorker(env, config);
  const priorities = { a: 5, b: 1, c: 3, d: 1, e: 'low', f: 'high' } as const;
  const tasks = Object.entries(priorities).map(([id, priority]) => ({
    id,
    priority,
    command: loggedCommand(id, 0.05),
  }));
  await runBatch(env, worker, { spec: { max_concurrent_agents: 1, tasks } });
  const order = readLog(config.root)
    .filter((e) => e.kind === 'start')
    .map((e) => e.id);
  // high = 1, normal = 5, low = 9; ties keep file order
  assert.deepEqual(order, ['b', 'd', 'f', 'c', 'a', 'e']);
});

test('a failed task skips exactly its dependents, with the reason; independent tasks go on', async () => {
  const config = testConfig(env);
  const worker = await testWorker(env, config);
  const spec = {
    max_concurrent_agents: 2,
    tasks: [
      { id: 'root', command: loggedCommand('root', 0.1, 3) },
      { id: 'child', depends_on: ['root'], command: loggedCommand('child', 0.1) },
      { id: 'grandchild', depends_on: 'child', command: loggedCommand('grandchild', 0.1) },
      { id: 'independent', command: loggedCommand('independent', 0.3) },
      { id: 'after-independent', depends_on: ['independent'], command: loggedCommand('after-independent', 0.1) },
    ],
  };
  const result = await runBatch(env, worker, { spec });
  const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
  assert.equal(by.root.status, 'failed');
  assert.match(by.root.error!, /exited with 3/);
  assert.equal(by.child.status, 'skipped');
  assert.equal(by.child.error, 'dependency root failed');
  assert.equal(by.grandchild.status, 'skipped');
  assert.equal(by.independent.status, 'succeeded');
  assert.equal(by['after-independent'].status, 'succeeded');
  const ran = new Set(readLog(config.root).map((e) => e.id));
  assert.deepEqual([...ran].sort(), ['after-independent', 'independent', 'root']);
});

test('cancelTask stops a running task and its process, and skips its dependents', async () => {
  const config = testConfig(env);
  const worker = await testWorker(env, config);
  // A sleep no other process runs, so the process table shows whether the command outlived its cancellation.
  const sleeper = `sleep 30.${process.pid}`;
  const spec = {
    tasks: [
      { id: 'slow', command: `${sleeper}; echo finished` },
      { id: 'after-slow', depends_on: ['slow'], command: 'true' },
    ],
  };
  const workflowId = uniqueBatchId();
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ spec }],
    });
    while (!(await handle.query(batchStatusQuery)).tasks.some((t) => t.taskId === 'slow' && t.status === 'running')) {
      await new Promise((r) => setTimeout(r, 100));
    }
    while (!commandRunning(sleeper)) await new Promise((r) => setTimeout(r, 100)); // the command runs
    await assert.rejects(handle.executeUpdate(cancelTaskUpdate, { args: [{ taskId: 'nope' }] }), (err: Error) =>
      /no task "nope"/.test((err.cause as Error).message),
    );
    const cancelled = await handle.executeUpdate(cancelTaskUpdate, {
      args: [{ taskId: 'slow', reason: 'not tonight' }],
    });
    assert.equal(cancelled.status, 'cancelled');
    const result: BatchResult = await handle.result();
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    assert.equal(by['after-slow'].status, 'skipped');
    assert.equal(by['after-slow'].error, 'dependency slow cancelled');
  });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(commandRunning(sleeper), false, 'the cancelled command was killed');
});

test('an invalid task file fails the batch with every problem listed, and starts no task', async () => {
  const config = testConfig(env);
  writeFileSync(
    path.join(config.root, 'bad.yaml'),
    'tasks:\n  - id: a\n    depends_on: [zz]\n  - id: a\n    max_turns: 3\n',
  );
  const worker = await testWorker(env, config);
  const workflowId = uniqueBatchId();
  await assert.rejects(runBatch(env, worker, { tasksFile: 'bad.yaml' }, workflowId), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    const msg = (err.cause as Error).message;
    assert.match(msg, /bad\.yaml:3 tasks\[0\]\.depends_on\[0\]: unknown task id "zz"/);
    assert.match(msg, /bad\.yaml:4 tasks\[1\]\.id: duplicate task id "a"/);
    assert.match(msg, /bad\.yaml:5 tasks\[1\]\.max_turns: unknown key "max_turns"/);
    return true;
  });
  const children = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowType='agentTask'` }))
    if (wf.workflowId.startsWith(workflowId)) children.push(wf);
  assert.equal(children.length, 0);
});

test('past the history limit the batch drains, continues as new, and still runs every task once', async () => {
  const config = testConfig(env);
  const worker = await testWorker(env, config);
  const tasks = Array.from({ length: 12 }, (_, i) => ({
    id: `c${i}`,
    depends_on: i % 3 ? [`c${i - 1}`] : [],
    command: loggedCommand(`c${i}`, 0),
  }));
  const workflowId = uniqueBatchId();
  const result = await runBatch(
    env,
    worker,
    { spec: { max_concurrent_agents: 4, tasks }, historyEventLimit: 40 },
    workflowId,
  );
  assert.deepEqual(
    result.tasks.map((t) => t.status),
    Array(12).fill('succeeded'),
  );
  const starts = readLog(config.root)
    .filter((e) => e.kind === 'start')
    .map((e) => e.id);
  assert.equal(starts.length, 12);
  assert.equal(new Set(starts).size, 12);
  const runs = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowId='${workflowId}'` })) runs.push(wf.status.name);
  assert.ok(
    runs.filter((s) => s === 'CONTINUED_AS_NEW').length >= 1 && runs.includes('COMPLETED'),
    `expected continue-as-new, got ${runs}`,
  );
});
