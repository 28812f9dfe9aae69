/**
 * `start --decompose`, and an improvement loop, across hosts that share only the postgres
 * state store: the plan is made on host A (its task file in A's root), then A goes with its
 * root, and host B runs the planned night from the store. Real dev server, real PostgreSQL, two in-process
 * workers with separate roots, the real SDK talking to a scripted Messages API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { startDecomposed } from '../../client/commands/plan';
import type { NightshiftConfig } from '../../common/config';
import type { MessagesRequest } from '../../demo/messages-server';
import { PostgresStateStore } from '../../common/store/postgres';
import type { PlannedNightResult } from '../../workflows/planning/planned-night';
import type { ImproveInput, ImproveResult } from '../../contract';
import { TASK_QUEUE } from '../../contract';
import { makeRepo } from '../sandbox/helpers';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { withModel } from '../agent/helpers';
import { postgresForFile } from '../helpers/postgres';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';

const server = devServerForFile();
const pg = postgresForFile();

const EventType = temporal.api.enums.v1.EventType;

const PLAN = {
  tasks: [
    {
      id: 'task-001',
      title: 'Write hello.txt',
      description: 'Create hello.txt',
      role: 'general',
      depends_on: [],
      estimated_complexity: 'low',
      acceptance_criteria: ['hello.txt exists'],
      deliverables: ['hello.txt'],
    },
    {
      id: 'task-002',
      title: 'Write bye.txt',
      description: 'Create bye.txt',
      role: 'general',
      depends_on: ['task-001'],
      estimated_complexity: 'low',
      acceptance_criteria: ['bye.txt exists'],
      deliverables: ['bye.txt'],
    },
  ],
};

const isPlanning = (req: MessagesRequest) =>
  ((req.body.tools as { name: string }[] | undefined) ?? []).some((t) => t.name === 'submit_plan');

/** Resolves once the workflow's history holds a completed `type` activity. */
async function activityCompleted(workflowId: string, type: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const events = (await server.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type)
        .map((e) => Number(e.eventId)),
    );
    if (
      events.some(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
          scheduled.has(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
      )
    )
      return;
    if (Date.now() > until) throw new Error(`${workflowId}: no ${type} completed in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a night planned on host A runs on host B from the shared store after A is gone with its root', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_turn, req) =>
      isPlanning(req)
        ? message([toolUse('toolu_plan', 'submit_plan', PLAN)])
        : message([toolUse('toolu_fin', 'finish', { summary: 'done', verification: 'looked' })]),
  });
  const host = (name: string): NightshiftConfig => ({
    ...withModel(testConfig(server.env, mkdtempSync(path.join(os.tmpdir(), `nightshift-plan-${name}-`))), fake.url),
    store: { kind: 'postgres', url: pg.server.url },
  });
  const [a, b] = [host('a'), host('b')];
  const store = await PostgresStateStore.open(pg.server.url);
  try {
    const batchId = uniqueBatchId('decomposed-hosts');
    const workerA = await testWorker(server.env, a);
    const r = await workerA.runUntil(async () => {
      const started = await startDecomposed(server.env.client, 'Write two greeting files', {
        date: '2026-12-03',
        workflowId: batchId,
      });
      await activityCompleted(started.planWorkflowId, 'decomposeGoal');
      return started;
    });
    assert.ok(existsSync(path.join(a.root, 'tasks', '2026-12-03.yaml')), 'host A wrote the task file into its root');
    rmSync(a.root, { recursive: true, force: true });

    const workerB = await testWorker(server.env, b);
    const result = (await workerB.runUntil(
      server.env.client.workflow.getHandle(r.planWorkflowId).result(),
    )) as PlannedNightResult;
    assert.equal(existsSync(path.join(b.root, 'tasks', '2026-12-03.yaml')), false, 'host B never had the task file');
    assert.deepEqual(
      result.batch.tasks.map((t) => [t.taskId, t.status]),
      [
        ['task-001', 'succeeded'],
        ['task-002', 'succeeded'],
      ],
    );
    // The batch was started with the stored night, which is in the store under the batch's ID.
    assert.equal(result.plan.storedSpec?.batchId, batchId);
    const started = (await server.env.client.workflow.getHandle(batchId).fetchHistory()).events?.[0]
      ?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    assert.deepEqual(
      (JSON.parse(Buffer.from(started!).toString('utf8')) as { storedSpec?: unknown }).storedSpec,
      result.plan.storedSpec,
    );
    assert.ok((await store.list('specs', batchId)).length > 0, 'the night is in the store');
    // The plan was paid for once, and its record is in the store for a retry on any host.
    assert.equal(fake.requests.filter(isPlanning).length, 1);
    assert.deepEqual(JSON.parse((await store.get('plans', r.planWorkflowId, 'decomposed.json'))!), result.plan);
  } finally {
    await store.close();
    await fake.close();
  }
});

test('an improvement loop planned on host A runs its batch on host B from the shared store after A is gone with its root', async () => {
  const isResearch = (req: MessagesRequest) =>
    ((req.body.system as { text: string }[] | undefined) ?? []).some((b) =>
      b.text.includes('Research: what to improve next'),
    );
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      if (isPlanning(req)) return message([toolUse('toolu_plan', 'submit_plan', { tasks: [PLAN.tasks[0]] })]);
      if (isResearch(req) && turn === 1)
        return message([
          toolUse('toolu_w', 'write_file', {
            path: 'FINDINGS.md',
            content: '## hello.txt is missing\n- it exists afterwards\n',
          }),
        ]);
      return message([toolUse('toolu_fin', 'finish', { summary: 'done', verification: 'looked' })]);
    },
  });
  const host = (name: string): NightshiftConfig => ({
    ...withModel(testConfig(server.env, mkdtempSync(path.join(os.tmpdir(), `nightshift-improve-${name}-`))), fake.url),
    store: { kind: 'postgres', url: pg.server.url },
  });
  const [a, b] = [host('a'), host('b')];
  const store = await PostgresStateStore.open(pg.server.url);
  try {
    const id = uniqueBatchId('improve-hosts');
    const input: ImproveInput = { repo: makeRepo().bare, loops: 1, date: '2026-12-04' };
    const workerA = await testWorker(server.env, a);
    await workerA.runUntil(async () => {
      await server.env.client.workflow.start('improvementLoops', {
        taskQueue: TASK_QUEUE,
        workflowId: id,
        args: [input],
      });
      await activityCompleted(id, 'planFromFindings');
    });
    const taskFile = path.join('tasks', 'improve', id, 'loop-1.yaml');
    assert.ok(existsSync(path.join(a.root, taskFile)), 'host A wrote the task file into its root');
    rmSync(a.root, { recursive: true, force: true });

    const workerB = await testWorker(server.env, b);
    const r = (await workerB.runUntil(server.env.client.workflow.getHandle(id).result())) as ImproveResult;
    assert.deepEqual(
      r.loops[0].tasks.map((t) => [t.taskId, t.status]),
      [['task-001', 'succeeded']],
    );
    assert.equal(existsSync(path.join(b.root, taskFile)), false, 'host B never had the task file');
    // The loop's batch was started with the night stored under its ID.
    const batchId = `${id}-loop-1-batch`;
    const started = (await server.env.client.workflow.getHandle(batchId).fetchHistory()).events?.[0]
      ?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    assert.equal(
      (JSON.parse(Buffer.from(started!).toString('utf8')) as { storedSpec?: { batchId: string } }).storedSpec?.batchId,
      batchId,
    );
    assert.equal(fake.requests.filter(isPlanning).length, 1, 'planned once');
    // The findings and the summary are in the store, whichever host wrote them.
    assert.match((await store.get('improve', id, 'loop-1-findings.md'))!, /hello\.txt is missing/);
    assert.match(
      (await store.get('improve', id, 'loop-1-summary.md'))!,
      /^# Loop 1 summary\n\nFindings: hello\.txt is missing\n\nTasks:\n- task-001 Write hello\.txt: succeeded/,
    );
    assert.equal(`${r.summary}\n`, await store.get('improve', id, 'loop-1-summary.md'));
  } finally {
    await store.close();
    await fake.close();
  }
});
