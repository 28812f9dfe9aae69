/**
 * Decomposition through the real SDK against a scripted Messages API: the answer comes
 * through submit_plan, validated as a task file, an invalid plan is sent back with its
 * errors once, and without a model the heuristic plans instead and says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createAnthropicClient } from '../../activities/model/client';
import { makePlan } from '../../activities/planning/plan';
import { SpecError } from '../../common/errors';
import { loadBatchSpec } from '../../taskfile/load';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';

const tmpRoot = () => mkdtempSync(path.join(os.tmpdir(), 'nightshift-plan-'));
const client = (url: string) => createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: url } })!;

const task = (id: string, title: string, deps: string[], complexity = 'medium', role = 'backend') => ({
  id,
  title,
  description: `${title}, with tests.`,
  role,
  depends_on: deps,
  estimated_complexity: complexity,
  acceptance_criteria: [`${title} passes its tests`],
  deliverables: [`src/${id}.ts`],
});

const VALID = {
  summary: 'Schema first, then the API and auth in parallel, then docs.',
  tasks: [
    task('task-001', 'Define the data model', [], 'low', 'data'),
    task('task-002', 'REST endpoints', ['task-001']),
    task('task-003', 'Authentication', ['task-001'], 'high'),
    task('task-004', 'API documentation', ['task-002', 'task-003'], 'low', 'docs'),
  ],
};

const plan = (input: unknown, id = 'toolu_plan') =>
  message([toolUse(id, 'submit_plan', input as Record<string, unknown>)], { model: 'claude-sonnet-4-5-20250929' });

test('a valid plan is forced through submit_plan, written as a task file and a companion with phases, graph and estimates', async () => {
  const fake = await startFakeAnthropic({ script: [plan(VALID)] });
  try {
    const root = tmpRoot();
    const r = await makePlan(root, client(fake.url), {
      goal: 'Build a REST API with authentication',
      date: '2026-11-21',
      maxCostUsd: 15,
    });
    assert.equal(fake.requests.length, 1);
    const body = fake.requests[0].body as unknown as {
      tool_choice: unknown;
      tools: {
        name: string;
        input_schema: {
          properties: { tasks: { items: { properties: Record<string, { enum?: string[] }>; required: string[] } } };
        };
      }[];
      system: string;
      messages: { content: string }[];
    };
    // The default planner model (sonnet 5.5) rejects forced tool use: it is asked with auto and its answer checked.
    assert.deepEqual(body.tool_choice, { type: 'auto' });
    const items = body.tools[0].input_schema.properties.tasks.items;
    // The tool schema comes from the task-file schema: same enum, no second definition.
    assert.deepEqual(items.properties.estimated_complexity.enum, ['low', 'medium', 'high']);
    assert.ok(items.required.includes('depends_on'));
    assert.equal(items.properties.command, undefined, 'a plan cannot set shell commands');
    assert.match(body.messages[0].content, /Build a REST API with authentication/);

    assert.equal(r.planner.kind, 'model');
    assert.equal(r.planner.kind === 'model' && r.planner.attempts, 1);
    assert.deepEqual(r.files, { yaml: 'tasks/2026-11-21.yaml', markdown: 'tasks/2026-11-21.plan.md' });
    const spec = await loadBatchSpec('tasks/2026-11-21.yaml', root);
    assert.equal(spec.maxCostUsd, 15);
    assert.deepEqual(
      spec.tasks.map((t) => [t.id, t.role, t.complexity, t.dependsOn]),
      [
        ['task-001', 'data', 'low', []],
        ['task-002', 'backend', 'medium', ['task-001']],
        ['task-003', 'backend', 'high', ['task-001']],
        ['task-004', 'docs', 'low', ['task-002', 'task-003']],
      ],
    );
    assert.deepEqual(spec.tasks[1].acceptanceCriteria, ['REST endpoints passes its tests']);
    assert.deepEqual(spec.tasks[1].deliverables, ['src/task-002.ts']);

    const md = readFileSync(path.join(root, r.files.markdown), 'utf8');
    assert.match(
      md,
      /## Execution phases\n\n1\. `task-001`\n2\. `task-002`, `task-003` \(in parallel\)\n3\. `task-004`/,
    );
    assert.match(md, /```mermaid\ngraph TD\n[\s\S]*task_001 --> task_002\n[\s\S]*task_003 --> task_004\n```/);
    // Priors only (no history): opus high = 2.1M cache reads x $0.20 + 400k cache writes x $5 + 150k out x $20 = $5.42.
    assert.match(md, /\| task-003 \| backend \| high \| claude-opus-5-5 \| \$5\.42 \| 4 \| task-001 \|/);
    assert.match(
      md,
      /Estimate: \$6\.63 of the \$15\.00 budget \(fits\)/,
      'priced with the prompt cache, the plan fits its $15 budget',
    );
    assert.match(r.text, /Phase 2 \(in parallel\):/);
  } finally {
    await fake.close();
  }
});

test('an invalid plan is rejected with its validation errors and the model gets exactly one more try', async () => {
  const broken = {
    tasks: [
      task('task-001', 'Model', ['task-002']),
      task('task-002', 'API', ['task-001']),
      { ...task('task-003', 'Docs', ['task-9']), command: 'rm -rf /' },
    ],
  };
  const fake = await startFakeAnthropic({ script: [plan(broken, 'toolu_1'), plan(VALID, 'toolu_2')] });
  try {
    const root = tmpRoot();
    const r = await makePlan(root, client(fake.url), { goal: 'Build a REST API', date: '2026-11-22' });
    assert.equal(fake.requests.length, 2);
    assert.equal(r.planner.kind === 'model' && r.planner.attempts, 2);
    const messages = (
      fake.requests[1].body as {
        messages: {
          role: string;
          content: { type: string; tool_use_id?: string; is_error?: boolean; content?: string }[];
        }[];
      }
    ).messages;
    assert.equal(messages.length, 3);
    const fed = messages[2].content[0];
    assert.equal(fed.type, 'tool_result');
    assert.equal(fed.tool_use_id, 'toolu_1');
    assert.equal(fed.is_error, true);
    assert.match(fed.content ?? '', /tasks\[2\]\.depends_on\[0\]: unknown task id "task-9"/);
    assert.match(fed.content ?? '', /dependency cycle: task-001 -> task-002 -> task-001/);
    assert.match(fed.content ?? '', /tasks\[2\]\.command: "command" is not a field a plan may set/);
    assert.deepEqual(r.rejected?.map((i) => i.path).sort(), [
      'tasks[0].depends_on',
      'tasks[2].command',
      'tasks[2].depends_on[0]',
    ]);
    assert.equal(r.spec.tasks.length, 4);
  } finally {
    await fake.close();
  }
});

test('a plan still invalid on the second answer fails with every problem, after the reminder too', async () => {
  const bad = { tasks: [task('task-001', 'A', ['nope'])] };
  const chat = () => message([text('I would rather chat.')], { stopReason: 'end_turn' });
  // The second answer comes in prose; sonnet 5.5 cannot be forced, so it is reminded once more.
  const fake = await startFakeAnthropic({ script: [plan(bad), chat(), chat()] });
  try {
    const root = tmpRoot();
    await assert.rejects(makePlan(root, client(fake.url), { goal: 'x', date: '2026-11-23' }), (err: unknown) => {
      assert.ok(err instanceof SpecError);
      assert.match(err.message, /did not call submit_plan/);
      return true;
    });
    assert.equal(fake.requests.length, 3);
    assert.equal(fake.exhausted, undefined);
  } finally {
    await fake.close();
  }
});

test('without a model the heuristic plans from the goal, and the files say so', async () => {
  const root = tmpRoot();
  const r = await makePlan(root, undefined, {
    goal: 'Build a REST API with authentication and rate limiting',
    date: '2026-11-24',
  });
  assert.equal(r.planner.kind, 'heuristic');
  const titles = r.spec.tasks.map((t) => `${t.id} ${t.title} <- ${t.dependsOn.join(',')}`);
  assert.deepEqual(titles, [
    'task-001 Design: Build a REST API with authentication and rate limiting <- ',
    'task-002 Build a REST API <- task-001',
    'task-003 Implement authentication <- task-002',
    'task-004 Implement rate limiting <- task-002',
    'task-005 Tests and documentation: Build a REST API with authentication and rate limiting <- task-002,task-003,task-004',
  ]);
  const yaml = readFileSync(path.join(root, 'tasks/2026-11-24.yaml'), 'utf8');
  assert.match(yaml, /^# Planned by nightshift from: Build a REST API/);
  assert.match(yaml, /# Planner: heuristic decomposition \(no model configured: set ANTHROPIC_API_KEY/);
  assert.match(readFileSync(path.join(root, r.files.markdown), 'utf8'), /heuristic decomposition/);
});

test('the heuristic plans a PRD from its sections, skipping the ones that describe rather than ask', async () => {
  const root = tmpRoot();
  const prd =
    '# Checkout\n\n## Overview\nWhy.\n\n## Cart API\nEndpoints for the cart.\n- POST /cart adds an item\n- GET /cart lists items\n\n## Checkout page\nA React page showing the cart.\n';
  const r = await makePlan(root, undefined, { document: { name: 'PRD.md', text: prd }, date: '2026-11-25' });
  assert.deepEqual(
    r.spec.tasks.map((t) => t.title),
    ['Design: PRD.md', 'Cart API', 'Checkout page', 'Tests and documentation: PRD.md'],
  );
  assert.deepEqual(r.spec.tasks[1].acceptanceCriteria, ['POST /cart adds an item', 'GET /cart lists items']);
  assert.equal(r.spec.tasks[2].role, 'frontend');
});

test('a hand-written task file is not replaced without --force', async () => {
  const root = tmpRoot();
  mkdirSync(path.join(root, 'tasks'));
  writeFileSync(path.join(root, 'tasks/2026-11-26.yaml'), 'tasks:\n  - id: mine\n    command: echo hi\n');
  await assert.rejects(
    makePlan(root, undefined, { goal: 'Add a CLI', date: '2026-11-26' }),
    /already exists and was not written by nightshift plan/,
  );
  const r = await makePlan(root, undefined, { goal: 'Add a CLI', date: '2026-11-26', overwrite: true });
  assert.equal(r.spec.tasks.length, 3);
});
