/**
 * Interactive planning: the edits, a session driven line by line and resumed, and
 * `start --decompose` as a workflow that plans (an activity) and runs the planned batch,
 * all against a real dev server and the real SDK talking to a scripted Messages API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileStoreFor } from '../../common/store';
import {
  addTask,
  loadSession,
  modifyTask,
  PlanEditError,
  removeTask,
  splitTask,
} from '../../activities/planning/session';
import type { PlanDraft } from '../../activities/planning/plan-tool';
import {
  continueSession,
  listCommand,
  planCommand,
  runPlanningRepl,
  startDecomposed,
} from '../../client/commands/plan';
import { startBatch } from '../../client/commands/batch';
import { loadBatchSpec } from '../../taskfile/load';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { withModel } from '../agent/helpers';
import type { PlannedNightResult } from '../../workflows/planning/planned-night';

const server = devServerForFile();

const draft: PlanDraft = {
  tasks: [
    { id: 'task-001', title: 'Schema', depends_on: [] },
    { id: 'task-002', title: 'API', depends_on: ['task-001'] },
    { id: 'task-003', title: 'UI', depends_on: ['task-002'] },
  ],
};

test('edits: add, remove (dependents inherit), split (dependents wait for every part), modify; an edit that breaks the DAG is refused', () => {
  const added = addTask(draft, { title: 'Docs', dependsOn: ['task-003'], complexity: 'low' });
  assert.equal(added.id, 'task-004');
  const removed = removeTask(added.draft, 'task-002');
  assert.deepEqual(
    removed.tasks.map((t) => [t.id, t.depends_on]),
    [
      ['task-001', []],
      ['task-003', ['task-001']],
      ['task-004', ['task-003']],
    ],
  );
  const split = splitTask(removed, 'task-003', ['Components', 'Styles']);
  assert.deepEqual(split.ids, ['task-003a', 'task-003b']);
  assert.deepEqual(
    split.draft.tasks.map((t) => [t.id, t.depends_on]),
    [
      ['task-001', []],
      ['task-003a', ['task-001']],
      ['task-003b', ['task-001']],
      ['task-004', ['task-003a', 'task-003b']],
    ],
  );
  const modified = modifyTask(split.draft, 'task-004', 'criteria', 'README updated, examples run');
  assert.deepEqual(
    modified.tasks[3].acceptance_criteria,
    ['README updated, examples run'].flatMap((s) => s.split(', ')),
  );
  assert.throws(
    () => modifyTask(modified, 'task-001', 'depends_on', 'task-004'),
    (e: Error) => e instanceof PlanEditError && /dependency cycle/.test(e.message),
  );
  assert.throws(() => modifyTask(modified, 'task-001', 'complexity', 'huge'), /must be one of low, medium, high/);
  assert.throws(() => removeTask(modified, 'task-404'), /no task "task-404"/);
});

test('a session is edited line by line, saved, listed, resumed and started as a batch', async () => {
  const config = testConfig(server.env);
  const planned = await planCommand(config, 'Add a CLI and a config file', { date: '2026-12-01', heuristic: true });
  assert.match(planned.notes[0], /planned heuristically: asked for with --heuristic/);
  const id = planned.session.id;
  assert.equal(id, '2026-12-01-add-a-cli-and-a-config-file');

  const out = new PassThrough();
  let printed = '';
  out.on('data', (c: Buffer) => (printed += c.toString()));
  const lines = [
    'add Write a changelog -- List every user-visible change',
    'set task-005 depends_on task-004',
    'set task-001 depends_on task-005',
    'split task-002 Parser | Commands',
    'remove task-003',
    'quit',
  ];
  const noStart = async () => {
    throw new Error('not started in this part');
  };
  const s1 = await runPlanningRepl(config, planned.session, {
    input: Readable.from(lines.map((l) => l + '\n')),
    output: out,
    start: noStart,
  });
  assert.match(printed, /added task-005: Write a changelog/);
  assert.match(printed, /refused: plan tasks\[0\]\.depends_on: dependency cycle/);
  assert.match(printed, /split task-002 into task-002a, task-002b/);
  assert.equal(s1.state, 'draft');

  // The task file follows the session: what `start` runs is what was edited.
  const spec = await loadBatchSpec(s1.out, config.root);
  assert.deepEqual(
    spec.tasks.map((t) => `${t.id}<-${t.dependsOn.join(',')}`),
    [
      'task-001<-',
      'task-002a<-task-001',
      'task-002b<-task-001',
      'task-004<-task-002a,task-002b,task-001',
      'task-005<-task-004',
    ],
  );
  assert.match(readFileSync(path.join(config.root, 'tasks/2026-12-01.plan.md'), 'utf8'), /task_002a --> task_004/);

  const listed = await listCommand(config);
  assert.match(listed.text, new RegExp(`${id}\\s+draft\\s+5\\s+tasks/2026-12-01.yaml`));

  // Resumed later: approve and start, on a real server.
  const resumed = await continueSession(config, id);
  assert.deepEqual(
    resumed.draft.tasks.map((t) => t.id),
    spec.tasks.map((t) => t.id),
  );
  const batchId = uniqueBatchId('planned');
  const s2 = await runPlanningRepl(config, resumed, {
    input: Readable.from(['start\n']),
    output: new PassThrough(),
    start: async (file, date) =>
      (await startBatch(server.env.client, config, path.join(config.root, file), { date, workflowId: batchId }))
        .batchId,
  });
  assert.equal(s2.state, 'started');
  assert.equal(s2.batchId, batchId);
  assert.equal((await loadSession({ root: config.root, store: fileStoreFor(config) }, id))?.state, 'started');
  const desc = await server.env.client.workflow.getHandle(batchId).describe();
  assert.equal(desc.type, 'nightlyBatch');
  await server.env.client.workflow.getHandle(batchId).terminate('test: only the start was under test');
});

test('in a terminal the prompt edits the line: the left arrow moves the cursor, the up arrow recalls the last command', async () => {
  const config = testConfig(server.env);
  const planned = await planCommand(config, 'Add a search page', { date: '2026-12-02', heuristic: true });
  const input = new PassThrough();
  const output = new PassThrough();
  let printed = '';
  output.on('data', (c: Buffer) => (printed += c.toString()));
  const LEFT = '\x1b[D';
  const UP = '\x1b[A';
  const session = runPlanningRepl(config, planned.session, {
    input,
    output,
    terminal: true,
    start: async () => 'unused',
  });
  // Keystrokes one by one, as a terminal sends them: "shw", left, "o" makes "show"; the up arrow brings back "remove task-003".
  for (const key of [...'shw', LEFT, 'o', '\r', ...'remove task-003', '\r', UP, '\r', ...'quit', '\r']) {
    input.write(key);
    await new Promise((r) => setTimeout(r, 2));
  }
  const s = await session;
  assert.doesNotMatch(printed, /unknown command/);
  assert.doesNotMatch(printed, /\^\[\[/, 'no arrow key is printed as ^[[');
  assert.match(printed, /removed task-003/);
  assert.match(printed, /refused: no task "task-003"/, 'the recalled command ran a second time');
  assert.ok(!s.draft.tasks.some((t) => t.id === 'task-003'));
});

test('without a terminal the prompt reads plain lines, and a mistyped command gets a did-you-mean', async () => {
  const config = testConfig(server.env);
  const planned = await planCommand(config, 'Add an export button', { date: '2026-12-03', heuristic: true });
  const output = new PassThrough();
  let printed = '';
  output.on('data', (c: Buffer) => (printed += c.toString()));
  await runPlanningRepl(config, planned.session, {
    input: Readable.from(['shwo\n', 'set task-001 titel Export\n', 'quit\n']),
    output,
    start: async () => 'unused',
  });
  assert.match(printed, /unknown command "shwo"; did you mean "show"\?/);
  assert.match(printed, /refused: unknown field "titel"; did you mean "title"\?/);
  assert.doesNotMatch(printed, /\x1b\[/, 'no terminal escapes into a pipe');
});

test('start --decompose: the plannedNight workflow plans through the decomposeGoal activity, then runs the plan as the batch', async () => {
  const plan = {
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
  // Planning requests carry the submit_plan tool; agent turns carry the agent's tools.
  const fake = await startFakeAnthropic({
    byTurn: (_turn, req) => {
      const tools = (req.body.tools as { name: string }[] | undefined) ?? [];
      if (tools.some((t) => t.name === 'submit_plan')) return message([toolUse('toolu_plan', 'submit_plan', plan)]);
      return message([toolUse('toolu_fin', 'finish', { summary: 'done', verification: 'looked' })]);
    },
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const batchId = uniqueBatchId('decomposed');
    const r = await startDecomposed(server.env.client, 'Write two greeting files', {
      date: '2026-12-02',
      workflowId: batchId,
    });
    assert.equal(r.planWorkflowId, `${batchId}-plan`);
    const result = (await worker.runUntil(
      server.env.client.workflow.getHandle(r.planWorkflowId).result(),
    )) as PlannedNightResult;
    assert.equal(result.plan.tasksFile, 'tasks/2026-12-02.yaml');
    assert.deepEqual(result.plan.taskIds, ['task-001', 'task-002']);
    assert.equal(result.plan.planner.kind, 'model');
    assert.equal(result.batch.batchId, batchId);
    assert.deepEqual(
      result.batch.tasks.map((t) => [t.taskId, t.status]),
      [
        ['task-001', 'succeeded'],
        ['task-002', 'succeeded'],
      ],
    );
    assert.match(
      readFileSync(path.join(config.root, 'tasks/2026-12-02.yaml'), 'utf8'),
      new RegExp(`# Plan key: ${r.planWorkflowId}`),
    );
    // One planning request, one turn per task.
    assert.equal(
      fake.requests.filter((q) => ((q.body.tools as { name: string }[]) ?? []).some((t) => t.name === 'submit_plan'))
        .length,
      1,
    );
    assert.equal(fake.exhausted, undefined);
  } finally {
    await fake.close();
  }
});
