/**
 * The night's spec travels by reference: `nightshift start` stores what it validated, the
 * batch keeps the normalized spec in the state store and its history only the key. Real
 * dev server, real PostgreSQL, real sandboxes for the command tasks.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { startBatch } from '../../client/commands/batch';
import { type NightshiftConfig } from '../../common/config';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';
import type { CarriedBatchState } from '../../workflows/night/messages';
import { postgresForFile } from '../helpers/postgres';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';

const server = devServerForFile();
const pg = postgresForFile();

const tmpRoot = (name: string) => mkdtempSync(path.join(os.tmpdir(), `nightshift-${name}-`));
const withPostgres = (config: NightshiftConfig): NightshiftConfig => ({
  ...config,
  store: { kind: 'postgres', url: pg.server.url },
});

interface EventPayloads {
  type: string;
  bytes: number;
  values: unknown[];
  newRunId?: string;
}

/** Every event of a run with its payloads decoded as JSON, read a few events per page (a page of this history passes gRPC's 4 MB). */
async function historyOf(workflowId: string, runId?: string): Promise<EventPayloads[]> {
  const out: EventPayloads[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await server.env.client.workflowService.getWorkflowExecutionHistory({
      namespace: server.env.namespace ?? 'default',
      execution: { workflowId, runId },
      maximumPageSize: 2,
      nextPageToken,
    });
    out.push(...payloadsOf(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return out;
}

/** The payloads of every event, decoded as JSON, with the event's type. */
function payloadsOf(events: temporal.api.history.v1.IHistoryEvent[]): EventPayloads[] {
  return events.map((e) => {
    const attrs =
      e.activityTaskCompletedEventAttributes?.result ??
      e.workflowExecutionStartedEventAttributes?.input ??
      e.workflowExecutionContinuedAsNewEventAttributes?.input ??
      e.activityTaskScheduledEventAttributes?.input;
    const payloads = attrs?.payloads ?? [];
    return {
      type: e.activityTaskCompletedEventAttributes
        ? 'activity-completed'
        : e.workflowExecutionContinuedAsNewEventAttributes
          ? 'continued-as-new'
          : e.workflowExecutionStartedEventAttributes
            ? 'started'
            : 'other',
      bytes: payloads.reduce((n, p) => n + (p.data?.length ?? 0), 0),
      values: payloads.map((p) =>
        p.data?.length ? (JSON.parse(Buffer.from(p.data).toString('utf8')) as unknown) : undefined,
      ),
      newRunId: e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined,
    };
  });
}

test('a 2.7 MB night started in one root runs on a worker in another, through the postgres store', async () => {
  const clientConfig = withPostgres(testConfig(server.env, tmpRoot('client')));
  const workerConfig = withPostgres(testConfig(server.env, tmpRoot('worker')));
  mkdirSync(path.join(clientConfig.root, 'tasks'));
  // Each task's description is 900 KB: the whole spec is past the 2 MiB payload limit, each task alone is not.
  const big = 'x'.repeat(900_000);
  const yaml = [
    'max_concurrent_agents: 3',
    'tasks:',
    ...['a', 'b', 'c'].flatMap((id) => [
      `  - id: big-${id}`,
      `    title: big ${id}`,
      `    description: ${big}`,
      `    command: "true"`,
    ]),
  ].join('\n');
  writeFileSync(path.join(clientConfig.root, 'tasks', 'night.yaml'), yaml);

  const batchId = uniqueBatchId('spec-ref');
  const worker = await testWorker(server.env, workerConfig);
  const result: BatchResult = await worker.runUntil(async () => {
    await startBatch(server.env.client, clientConfig, path.join(clientConfig.root, 'tasks', 'night.yaml'), {
      workflowId: batchId,
    });
    return server.env.client.workflow.getHandle(batchId).result();
  });
  assert.deepEqual(
    result.tasks.map((t) => [t.taskId, t.status]),
    [
      ['big-a', 'succeeded'],
      ['big-b', 'succeeded'],
      ['big-c', 'succeeded'],
    ],
  );

  const events = await historyOf(batchId);
  const started = events[0].values[0] as { storedSpec?: { batchId: string; hash: string }; spec?: unknown };
  assert.equal(started.storedSpec?.batchId, batchId, 'the workflow input names the stored spec');
  assert.equal(started.spec, undefined);
  // storeBatchSpec gives back the key, the settings and the index (one part); each task is read whole only as it starts.
  const largest = Math.max(...events.map((e) => e.bytes));
  assert.ok(largest < 1_000_000, `largest payload ${largest} bytes`);
  const header = events.find(
    (e) => e.type === 'activity-completed' && (e.values[0] as { parts?: number })?.parts !== undefined,
  )?.values[0] as { parts: number; taskCount: number; ref: { batchId: string } };
  assert.deepEqual(
    { parts: header.parts, taskCount: header.taskCount, batchId: header.ref.batchId },
    { parts: 1, taskCount: 3, batchId },
  );
});

test('a night continued as new carries the key to its spec, not the spec', async () => {
  const config = testConfig(server.env);
  const worker = await testWorker(server.env, config);
  const batchId = uniqueBatchId('spec-ref-can');
  const spec = {
    max_concurrent_agents: 1,
    tasks: ['t1', 't2', 't3'].map((id) => ({ id, title: id, command: 'true' })),
  };
  const handle = await server.env.client.workflow.start('nightlyBatch', {
    taskQueue: TASK_QUEUE,
    workflowId: batchId,
    args: [{ spec, historyEventLimit: 20 }],
  });
  const result: BatchResult = await worker.runUntil(handle.result());
  assert.deepEqual(
    result.tasks.map((t) => t.status),
    ['succeeded', 'succeeded', 'succeeded'],
  );
  // Run by run from the first: each continue-as-new input carries the key only.
  let carriedRefs = 0;
  for (let runId: string | undefined = handle.firstExecutionRunId; runId;) {
    const events = await historyOf(batchId, runId);
    const next = events.find((e) => e.type === 'continued-as-new');
    if (!next) break;
    const carried = (next.values[0] as { carried: CarriedBatchState }).carried;
    assert.equal(carried.spec, undefined, 'the spec is not carried');
    assert.equal(carried.specRef?.batchId, batchId);
    carriedRefs++;
    runId = next.newRunId;
  }
  assert.ok(carriedRefs >= 1);
});

test('workers that do not share the store say so, naming their root; a missing tasksFile names the root it resolved against', async () => {
  const clientConfig = testConfig(server.env, tmpRoot('client-file'));
  const workerConfig = testConfig(server.env, tmpRoot('worker-file'));
  mkdirSync(path.join(clientConfig.root, 'tasks'));
  writeFileSync(
    path.join(clientConfig.root, 'tasks', 'night.yaml'),
    'tasks:\n  - id: one\n    title: one\n    command: "true"\n',
  );
  const worker = await testWorker(server.env, workerConfig);
  await worker.runUntil(async () => {
    const batchId = uniqueBatchId('spec-ref-apart');
    await startBatch(server.env.client, clientConfig, path.join(clientConfig.root, 'tasks', 'night.yaml'), {
      workflowId: batchId,
    });
    await assert.rejects(server.env.client.workflow.getHandle(batchId).result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const message = (err.cause as Error).message;
      assert.match(message, /not in this worker's state store/);
      assert.ok(message.includes(workerConfig.root), message);
      return true;
    });

    // `temporal workflow start --input '{"tasksFile": ...}'`: read relative to the worker's root, and the error says which.
    await assert.rejects(
      server.env.client.workflow.execute('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: uniqueBatchId('spec-ref-file'),
        args: [{ tasksFile: 'tasks/night.yaml' }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        const message = (err.cause as Error).message;
        assert.match(message, /no such file or directory/);
        assert.ok(message.includes(`NIGHTSHIFT_ROOT ${workerConfig.root}`), message);
        return true;
      },
    );
  });
});
