/**
 * Cancelling a whole night: with `nightshift cancel BATCH --reason` (update `cancelBatch`)
 * and through Temporal (`temporal workflow cancel`, the Web UI). Either way the running
 * command is killed, every task gets a result, and the report is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { batchStatusQuery, cancelBatchUpdate, TASK_QUEUE, type BatchResult } from '../../contract';
import { readBatch } from '../../client/batches';

const server = devServerForFile();

function night(marker: string) {
  return {
    tasks: [
      { id: 'quick', command: 'echo done' },
      { id: 'slow', command: `sleep 30; touch ${marker}` },
      { id: 'after-slow', depends_on: ['slow'], command: 'true' },
    ],
  };
}

async function untilSlowRuns(handle: {
  query: (q: typeof batchStatusQuery) => Promise<{ tasks: { taskId: string; status: string }[] }>;
}) {
  // And `quick` has ended: on a loaded machine its sandbox can take longer than `slow` takes to start.
  const ready = (tasks: { taskId: string; status: string }[]) =>
    tasks.some((t) => t.taskId === 'slow' && t.status === 'running') &&
    tasks.some((t) => t.taskId === 'quick' && t.status === 'succeeded');
  while (!ready((await handle.query(batchStatusQuery)).tasks)) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500)); // let the command start
}

test('cancelBatch: running tasks are cancelled and their command killed, the rest cancelled with the reason, the report written', async () => {
  const config = testConfig(server.env);
  const marker = path.join(mkdtempSync(path.join(os.tmpdir(), 'cancel-night-')), 'still-running');
  const worker = await testWorker(server.env, config);
  const id = uniqueBatchId();
  const { cancelled, result } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ spec: night(marker) }],
    });
    await untilSlowRuns(handle);
    const c = await handle.executeUpdate(cancelBatchUpdate, { args: [{ reason: 'going home' }] });
    return { cancelled: c, result: (await handle.result()) as BatchResult };
  });
  assert.deepEqual(
    cancelled.map((t) => `${t.taskId}:${t.status}`),
    ['quick:succeeded', 'slow:cancelled', 'after-slow:cancelled'],
  );
  const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
  assert.equal(by.slow.error, 'night cancelled: going home');
  assert.equal(
    by['after-slow'].error,
    'night cancelled: going home',
    'a task not started is cancelled with the reason',
  );
  assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
  assert.match(readFileSync(path.join(config.root, result.report.markdown), 'utf8'), /night cancelled: going home/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(existsSync(marker), false, 'the cancelled command was killed');
});

test('cancelled through Temporal: the batch ends Cancelled, after recording every task and writing its report', async () => {
  const config = testConfig(server.env);
  const marker = path.join(mkdtempSync(path.join(os.tmpdir(), 'cancel-night-')), 'still-running');
  const worker = await testWorker(server.env, config);
  const id = uniqueBatchId();
  const status = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ spec: night(marker) }],
    });
    await untilSlowRuns(handle);
    await handle.cancel();
    await assert.rejects(handle.result(), (err) => err instanceof WorkflowFailedError);
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
    return readBatch(server.env.client, id);
  });
  assert.deepEqual(
    status.tasks.map((t) => `${t.taskId}:${t.status}`),
    ['quick:succeeded', 'slow:cancelled', 'after-slow:cancelled'],
    'status still shows the task table',
  );
  assert.equal(status.error, 'cancelled');
  assert.ok(status.report && 'markdown' in status.report, JSON.stringify(status.report));
  assert.match(readFileSync(path.join(config.root, status.report.markdown), 'utf8'), /slow \| cancelled/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(existsSync(marker), false, 'the cancelled command was killed');
});
