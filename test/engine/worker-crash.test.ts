/**
 * Kill the worker process with SIGKILL in the middle of a batch, start a new one: the
 * batch completes and no task that had finished runs again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchStatusQuery, TASK_QUEUE, type BatchResult } from '../../contract';
import { loggedCommand, readLog } from '../helpers/batch';
import { startDevServer, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let env: TestWorkflowEnvironment;
const workers: WorkerProcess[] = [];
before(async () => {
  env = await startDevServer();
});
after(async () => {
  for (const w of workers) await w.kill();
  await env?.teardown();
});

test('SIGKILL of the worker mid-batch: a new worker finishes the batch, finished tasks never rerun', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-crash-'));
  const workerEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', NIGHTSHIFT_ROOT: root };
  const ids = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
  const spec = {
    max_concurrent_agents: 2,
    tasks: ids.map((id, i) => ({ id, depends_on: i >= 2 ? [ids[i - 2]] : [], command: loggedCommand(id, 1) })),
  };
  const first = await spawnWorker(workerEnv);
  workers.push(first);
  const handle = await env.client.workflow.start('nightlyBatch', {
    taskQueue: TASK_QUEUE,
    workflowId: uniqueBatchId(),
    args: [{ spec }],
  });

  let finishedBeforeKill: string[] = [];
  for (;;) {
    const s = await handle.query(batchStatusQuery);
    finishedBeforeKill = s.tasks.filter((t) => t.status === 'succeeded').map((t) => t.taskId);
    if (finishedBeforeKill.length >= 2 && s.tasks.some((t) => t.status === 'running')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await first.kill('SIGKILL');
  assert.equal(first.child.signalCode, 'SIGKILL');
  const killedAt = BigInt(Date.now()) * 1_000_000n;

  const second = await spawnWorker(workerEnv);
  workers.push(second);
  const result: BatchResult = await handle.result();
  assert.deepEqual(
    result.tasks.map((t) => `${t.taskId}:${t.status}`),
    ids.map((id) => `${id}:succeeded`),
  );

  // Each task's kept work holds the log of the attempt that finished it: a rerun would have started after the kill.
  const starts = readLog(root).filter((e) => e.kind === 'start');
  for (const id of finishedBeforeKill) {
    const own = starts.filter((e) => e.id === id);
    assert.equal(own.length, 1, `${id} ran once`);
    assert.ok(own[0].ns < killedAt, `${id} finished before the kill and must not run again`);
  }
  for (const id of ids)
    assert.ok(
      starts.some((e) => e.id === id),
      `${id} ran`,
    );
});
