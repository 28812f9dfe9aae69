/**
 * A night's task results travel by reference: each ended task's result is stored in the
 * state store, a run continues as new carrying one character a task, and the report reads
 * every result back. Real dev server, real sandboxes for the command tasks, the file store.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { readStoredTasks } from '../../activities/night/results';
import { readBatch } from '../../client/batches';
import { TASK_QUEUE } from '../../contract';
import { openStateStore } from '../../common/store';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import type { BatchResult } from '../../contract';
import type { CarriedBatchState } from '../../workflows/night/messages';
import { loggedCommand, readLog } from '../helpers/batch';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';

const server = devServerForFile();
after(async () => {
  // Command tasks ran in sandboxes: the sandbox runtime's proxies would keep the process alive.
  await shutdownIsolation();
});

/** Each run's continue-as-new input, first run to last, as the server recorded it, with its size. */
async function carriedInputs(
  workflowId: string,
  firstRunId: string,
): Promise<{ carried: CarriedBatchState; bytes: number }[]> {
  const out: { carried: CarriedBatchState; bytes: number }[] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    let next: string | undefined;
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await server.env.client.workflowService.getWorkflowExecutionHistory({
        namespace: server.env.namespace ?? 'default',
        execution: { workflowId, runId },
        maximumPageSize: 50,
        nextPageToken,
      });
      for (const e of page.history?.events ?? []) {
        const attrs = e.workflowExecutionContinuedAsNewEventAttributes;
        const data = attrs?.input?.payloads?.[0]?.data;
        if (!attrs || !data) continue;
        out.push({
          carried: (JSON.parse(Buffer.from(data).toString('utf8')) as { carried: CarriedBatchState }).carried,
          bytes: data.length,
        });
        next = attrs.newExecutionRunId ?? undefined;
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    runId = next;
  }
  return out;
}

interface ReportRecord {
  task: string;
  state: string;
  message: string;
  startedAt?: string;
  endedAt?: string;
}

test('a night past several continue-as-new boundaries carries no results, and its report has every one', async () => {
  const config = testConfig(server.env);
  const worker = await testWorker(server.env, config);
  // Chains of three, a failure whose dependent is skipped, and independent tasks: 20 tasks.
  const ids = Array.from({ length: 18 }, (_, i) => `r${i}`);
  const tasks = [
    ...ids.map((id, i) => ({ id, depends_on: i % 3 ? [ids[i - 1]] : [], command: loggedCommand(id, 0) })),
    { id: 'broken', depends_on: ['r4'], command: loggedCommand('broken', 0, 3) },
    { id: 'after-broken', depends_on: ['broken'], command: loggedCommand('after-broken', 0) },
  ];
  const workflowId = uniqueBatchId('results-ref');
  const handle = await server.env.client.workflow.start('nightlyBatch', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ spec: { max_concurrent_agents: 3, tasks }, historyEventLimit: 30 }],
  });
  const result: BatchResult = await worker.runUntil(handle.result());

  const expected = Object.fromEntries([
    ...ids.map((id) => [id, 'succeeded']),
    ['broken', 'failed'],
    ['after-broken', 'skipped'],
  ]);
  // Runs continued as new: each carried the key to the results, each task's state, no result.
  const carried = await carriedInputs(workflowId, handle.firstExecutionRunId);
  assert.ok(carried.length >= 2, `expected at least two continue-as-new, got ${carried.length}`);
  for (const { carried: c, bytes } of carried) {
    assert.deepEqual(c.results, {}, 'no result is carried');
    assert.equal(c.resultsRef?.batchId, workflowId);
    assert.equal(c.resultsRef?.night, handle.firstExecutionRunId);
    assert.equal(c.states?.length, tasks.length, 'one character a task');
    // The settings, the keys, the states and the totals: nothing that grows with what the tasks said.
    assert.ok(bytes < 2_000, `carried ${bytes} bytes`);
  }
  const last = carried[carried.length - 1].carried;
  assert.ok(
    [...last.states!].some((ch) => ch !== '.'),
    'the last carry knows tasks that ended',
  );

  // The batch's result lists every task (a small night reads the earlier runs' back) and names where they are.
  assert.deepEqual(Object.fromEntries(result.tasks.map((t) => [t.taskId, t.status])), expected);
  assert.deepEqual(result.stored?.results, { batchId: workflowId, night: handle.firstExecutionRunId });
  assert.equal(result.stored?.taskCount, tasks.length);
  for (const t of result.tasks.filter((t) => t.status !== 'skipped'))
    assert.ok(t.startedAt && t.endedAt && t.endedAt >= t.startedAt, `${t.taskId} has its times`);
  assert.match(result.tasks.find((t) => t.taskId === 'after-broken')!.error!, /dependency broken failed/);

  // The report, written from the store, has every task's own result.
  assert.ok(result.report && 'json' in result.report, JSON.stringify(result.report));
  const report = JSON.parse(readFileSync(path.join(config.root, result.report.json), 'utf8')) as {
    results: ReportRecord[];
  };
  assert.deepEqual(Object.fromEntries(report.results.map((r) => [r.task, r.state])), expected);
  assert.deepEqual(
    report.results.map((r) => r.task),
    tasks.map((t) => t.id),
    'in the order of the spec',
  );
  for (const t of result.tasks) {
    const r = report.results.find((x) => x.task === t.taskId)!;
    assert.equal(r.startedAt, t.startedAt ? new Date(t.startedAt).toISOString() : undefined, t.taskId);
    assert.equal(r.endedAt, t.endedAt ? new Date(t.endedAt).toISOString() : undefined, t.taskId);
    assert.equal(r.message, t.error ?? t.summary ?? '', t.taskId);
  }
  const markdown = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
  assert.match(markdown, /20 tasks: 18 succeeded, 1 failed, 1 skipped/);

  // In the store: one record per task, the same as the result.
  const store = await openStateStore(config);
  try {
    const stored = await readStoredTasks(store, result.stored!.spec, result.stored!.results);
    assert.deepEqual(
      stored.map((t) => [t.taskId, t.status, t.startedAt, t.endedAt]),
      result.tasks.map((t) => [t.taskId, t.status, t.startedAt, t.endedAt]),
    );
  } finally {
    await store.close();
  }

  // Every task ran once, whichever run started it.
  const starts = readLog(config.root)
    .filter((e) => e.kind === 'start')
    .map((e) => e.id);
  assert.deepEqual(
    [...starts].sort(),
    tasks
      .filter((t) => t.id !== 'after-broken')
      .map((t) => t.id)
      .sort(),
  );
});

test('a large night that continued as new points to its results; the client reads them from the store', async () => {
  const config = testConfig(server.env);
  const worker = await testWorker(server.env, config);
  const tasks = Array.from({ length: 10 }, (_, i) => ({
    id: `big${i}`,
    depends_on: i % 2 ? [`big${i - 1}`] : [],
    command: loggedCommand(`big${i}`, 0),
  }));
  const workflowId = uniqueBatchId('results-ref-large');
  // Past 4 tasks the night counts as large: its result does not list them.
  const result: BatchResult = await worker.runUntil(
    server.env.client.workflow.execute('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ spec: { max_concurrent_agents: 3, tasks }, historyEventLimit: 30, inlineResultsMaxTasks: 4 }],
    }),
  );
  assert.deepEqual(result.tasks, []);
  assert.equal(result.stored?.taskCount, 10);

  // `nightshift status` / `nightshift report` on the finished night: every task, from the store.
  const status = await readBatch(server.env.client, workflowId, config);
  assert.equal(status.state, 'completed');
  assert.deepEqual(
    status.tasks.map((t) => [t.taskId, t.status, t.workflowId]),
    tasks.map((t) => [t.id, 'succeeded', `${workflowId}/${t.id}`]),
  );
  for (const t of status.tasks) assert.ok(t.startedAt && t.endedAt, `${t.taskId} has its times`);
  assert.ok(result.report && 'json' in result.report);
  const report = JSON.parse(readFileSync(path.join(config.root, result.report.json), 'utf8')) as {
    results: ReportRecord[];
  };
  assert.deepEqual(
    report.results.map((r) => [r.task, r.state, r.startedAt]),
    status.tasks.map((t) => [t.taskId, t.status, new Date(t.startedAt!).toISOString()]),
  );
});
