/**
 * Every request valid for every model, against the strict Messages fake (real SDK on
 * loopback): models that reject forced tool use are asked with `auto` and checked, and
 * thinking blocks go back to the API exactly as they came.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createModelActivities } from '../../activities/model/call-model';
import { createAnthropicClient } from '../../activities/model/client';
import { toolReminder } from '../../activities/model/tool-answer';
import { makePlan } from '../../activities/planning/plan';
import { learnSkill } from '../../activities/learning/learn-skill';
import { fileStoreFor } from '../../common/store';
import { createSimpleActivities } from '../../activities/task/simple';
import { createSpecActivities } from '../../activities/night/spec';
import { parseBatchYaml } from '../../taskfile/load';
import { elideThrough } from '../../activities/model/request';
import {
  FileTranscriptStore,
  getJson,
  keys,
  loadConversation,
  putJson,
  type TurnRecord,
} from '../../activities/task/transcripts';
import { createLocalProvider } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import {
  FORCED_TOOL_USE_ERROR,
  message,
  modelRuleViolation,
  startFakeAnthropic,
  text,
  thinking,
  toolUse,
} from '../fakes/anthropic-server';

after(async () => {
  await shutdownIsolation();
});

const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), `nightshift-${p}-`));
const client = (url: string) =>
  createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: url } }, { maxRetries: 0 })!;
const body = (b: unknown) =>
  b as { model: string; tool_choice?: { type: string; name?: string }; messages: { role: string; content: unknown }[] };
function run<A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, a) as Promise<R>;
}

const PLAN = {
  summary: 'One task.',
  tasks: [
    {
      id: 'task-001',
      title: 'Do it',
      description: 'Do it, with tests.',
      role: 'backend',
      depends_on: [],
      estimated_complexity: 'low',
      acceptance_criteria: ['it works'],
      deliverables: ['src/a.ts'],
    },
  ],
};

test('the strict fake answers a forcing tool_choice on a model that rejects it with the API 400, and takes it where the model allows it', () => {
  const forced = { model: 'claude-opus-5-5', tool_choice: { type: 'tool', name: 'x' }, messages: [] };
  const refused = modelRuleViolation(forced);
  assert.equal(refused?.status, 400);
  assert.deepEqual(refused?.json, {
    type: 'error',
    error: { type: 'invalid_request_error', message: FORCED_TOOL_USE_ERROR },
  });
  assert.equal(
    modelRuleViolation({ ...forced, model: 'sonnet', tool_choice: { type: 'any' } })?.status,
    400,
    '`any` forces too',
  );
  assert.equal(modelRuleViolation({ ...forced, tool_choice: { type: 'auto' } }), undefined);
  assert.equal(modelRuleViolation({ ...forced, model: 'claude-haiku-4-5' }), undefined);
  assert.equal(
    modelRuleViolation({ model: 'claude-opus-5-5', thinking: { type: 'disabled' }, messages: [] })?.status,
    400,
    'opus 5.5 always thinks',
  );
  const edited = { ...(thinking('plan: read the file') as object), thinking: 'plan: delete the file' };
  const tampered = modelRuleViolation({
    model: 'claude-opus-5-5',
    messages: [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [edited, toolUse('tu_1', 'bash', {})] },
    ],
  });
  assert.match(
    String((tampered?.json as { error: { message: string } }).error.message),
    /^messages\.1\.content\.0: Invalid `signature` in `thinking` block/,
  );
});

test('planner on a model that rejects forced tool use: asked with auto, reminded once when it answers in prose, plan accepted', async () => {
  const fake = await startFakeAnthropic({
    script: [
      message([thinking('The goal is small.'), text('Here is my plan: one task.')], { model: 'claude-opus-5-5' }),
      message([thinking('Use the tool.'), toolUse('tu_plan', 'submit_plan', PLAN)], { model: 'claude-opus-5-5' }),
    ],
  });
  try {
    const root = tmp('plan');
    const r = await makePlan(root, client(fake.url), {
      goal: 'Do it',
      date: '2026-11-29',
      model: 'opus',
      maxCostUsd: 15,
    });
    assert.equal(fake.exhausted, undefined);
    assert.equal(fake.requests.length, 2);
    const [first, second] = fake.requests.map((q) => body(q.body));
    assert.equal(first.model, 'claude-opus-5-5');
    assert.deepEqual(first.tool_choice, { type: 'auto' });
    assert.deepEqual(second.tool_choice, { type: 'auto' });
    // The prose answer went back unmodified (its thinking block and signature included), then the reminder.
    assert.deepEqual(second.messages[1], {
      role: 'assistant',
      content: [thinking('The goal is small.'), text('Here is my plan: one task.')],
    });
    assert.deepEqual(second.messages[2], { role: 'user', content: toolReminder('submit_plan') });
    assert.equal(r.planner.kind, 'model');
    // Both answers are paid for: 2 × (100 in × $4 + 20 out × $20) = 1,600 µ$.
    assert.equal(r.planner.kind === 'model' && r.planner.costUsd, 0.0016);
    assert.deepEqual(
      r.spec.tasks.map((t) => t.id),
      ['task-001'],
    );
  } finally {
    await fake.close();
  }
});

test('planner on a model that takes forced tool use still forces it', async () => {
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_plan', 'submit_plan', PLAN)], { model: 'claude-haiku-4-5' })],
  });
  try {
    await makePlan(tmp('plan'), client(fake.url), {
      goal: 'Do it',
      date: '2026-11-29',
      model: 'claude-haiku-4-5',
      maxCostUsd: 15,
    });
    assert.deepEqual(body(fake.requests[0].body).tool_choice, { type: 'tool', name: 'submit_plan' });
  } finally {
    await fake.close();
  }
});

test('simple mode on the default sonnet (rejects forced tool use) writes its files from an auto answer', async () => {
  const fake = await startFakeAnthropic({
    script: [
      message([
        thinking('README only.'),
        toolUse('tu_w', 'write_files', {
          files: [{ path: 'README.md', content: '# new\n' }],
          summary: 'Rewrote the README',
        }),
      ]),
    ],
  });
  try {
    const root = tmp('simple');
    const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
    const sandboxes = createLocalProvider({ root: path.join(root, 'sandboxes') });
    const sandbox = await sandboxes.create({ key: 'night/simple-1' });
    await sandbox.writeFile('README.md', '# old\n');
    await putJson(transcripts, 'night/simple-1', keys.prompt, { system: 'You are a test.', firstMessage: 'Go.' });
    const acts = createSimpleActivities({ anthropic: client(fake.url), sandboxes, transcripts });
    const r = await run(acts.simpleModelCall, {
      workflowId: 'night/simple-1',
      sandboxId: sandbox.id,
      model: 'claude-sonnet-5-5',
      contextFiles: [],
    });
    assert.equal(r.error, undefined);
    assert.deepEqual(r.files, ['README.md']);
    assert.equal(new TextDecoder().decode(await sandbox.readFile('README.md')), '# new\n');
    assert.deepEqual(body(fake.requests[0].body).tool_choice, { type: 'auto' });
    assert.equal(fake.requests.length, 1, 'the tool was called at once: no reminder');
  } finally {
    await fake.close();
  }
});

test('skill learning on opus 5.5 records the skill from an auto answer', async () => {
  const fake = await startFakeAnthropic({
    script: [
      message(
        [
          thinking('A reusable pattern.'),
          toolUse('tu_s', 'record_skill', {
            title: 'Greeting',
            when_to_use: 'greetings',
            pattern: 'Write greet.js, run it.',
            confidence: 0.9,
          }),
        ],
        { model: 'claude-opus-5-5' },
      ),
    ],
  });
  try {
    const root = tmp('skill');
    const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
    const r = await learnSkill(
      { anthropic: client(fake.url), transcripts, store: fileStoreFor({ root }) },
      {
        workflowId: 'night/t1',
        task: {
          id: 't1',
          title: 'Greet',
          description: 'Add greet.js',
          acceptanceCriteria: [],
          updateSkill: 'greeting',
        },
        summary: 'Added greet.js',
        date: '2026-11-29',
        model: 'opus',
      },
    );
    assert.equal(r.status, 'learned');
    assert.match(readFileSync(path.join(root, r.file), 'utf8'), /Write greet\.js, run it\./);
    assert.deepEqual(body(fake.requests[0].body).tool_choice, { type: 'auto' });
  } finally {
    await fake.close();
  }
});

test('agent loop: thinking blocks go back with the tool results exactly as they came, and elision never touches them', async () => {
  const big = 'y'.repeat(5000);
  const fake = await startFakeAnthropic({
    script: [
      message([thinking('Read the file first.'), toolUse('tu_1', 'read_file', { path: 'a.txt' })], {
        model: 'claude-opus-5-5',
      }),
      message([thinking('Now finish.'), toolUse('tu_2', 'finish', { summary: 'done', verification: 'read it' })], {
        model: 'claude-opus-5-5',
      }),
    ],
  });
  try {
    const root = tmp('thinking');
    const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
    const acts = createModelActivities({
      anthropic: new Anthropic({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 }),
      transcripts,
    });
    const wf = 'night/think-1';
    await putJson(transcripts, wf, keys.prompt, { system: 'You are a test.', firstMessage: 'Go.' });
    await run(acts.callModel, { workflowId: wf, turn: 1, model: 'opus' });
    await putJson(transcripts, wf, keys.tool(1, 'tu_1'), { content: big, isError: false });
    const t2 = await run(acts.callModel, { workflowId: wf, turn: 2, model: 'claude-opus-5-5' });
    assert.equal(fake.exhausted, undefined);
    assert.equal(t2.finish?.summary, 'done', 'the strict fake accepted the second request');
    const sent = body(fake.requests[1].body).messages[1];
    assert.deepEqual(sent, {
      role: 'assistant',
      content: [thinking('Read the file first.'), toolUse('tu_1', 'read_file', { path: 'a.txt' })],
    });

    // Elision replaces old tool results only: the conversation's thinking blocks are left as they were.
    const { messages } = await loadConversation(transcripts, wf, 3);
    const before = JSON.stringify(messages.filter((m) => m.role === 'assistant'));
    assert.equal(elideThrough(messages, 1), 1, "the first read's 5,000 characters are elided");
    assert.equal(JSON.stringify(messages.filter((m) => m.role === 'assistant')), before);
  } finally {
    await fake.close();
  }
});

test('the strict fake refuses an assistant tool call sent back without the thinking it came with', async () => {
  const fake = await startFakeAnthropic({
    script: [
      message([thinking('Plan.'), toolUse('tu_1', 'bash', { command: 'ls' })], { model: 'claude-opus-5-5' }),
      message([text('ok')]),
    ],
  });
  try {
    const api = new Anthropic({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 });
    await api.messages.create({
      model: 'claude-opus-5-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'go' }],
    });
    const stripped = api.messages.create({
      model: 'claude-opus-5-5',
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'tu_1', name: 'bash', input: { command: 'ls' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'a.txt' }] },
      ],
    });
    await assert.rejects(
      stripped,
      (e: unknown) =>
        e instanceof Anthropic.BadRequestError &&
        /Expected `thinking` or `redacted_thinking`, but found `tool_use`/.test(e.message),
    );
    assert.equal(fake.exhausted, undefined, 'the refused request did not use up the script');
  } finally {
    await fake.close();
  }
});

test('effort: by complexity unless the task sets it, sent only to models that take it', async () => {
  const root = tmp('effort');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(path.join(root, 'tasks'));
  writeFileSync(
    path.join(root, 'tasks', 'n.yaml'),
    'tasks:\n  - { id: easy, estimated_complexity: low }\n  - { id: hard, estimated_complexity: high, agent_config: { effort: max } }\n  - { id: old, agent_config: { model: claude-haiku-4-5 } }\n  - { id: sh, command: "true" }\n',
  );
  const spec = await createSpecActivities({ root }).loadBatchSpec({ tasksFile: 'tasks/n.yaml' });
  assert.deepEqual(
    spec.tasks.map((t) => [t.id, t.model, t.effort]),
    [
      ['easy', 'claude-haiku-5-5', 'low'],
      ['hard', 'claude-opus-5-5', 'max'],
      ['old', 'claude-haiku-4-5', 'medium'],
      ['sh', undefined, undefined],
    ],
  );
  assert.throws(
    () => parseBatchYaml('tasks:\n  - { id: a, agent_config: { effort: extreme } }\n', 'x.yaml'),
    /agent_config\.effort: must be one of low, medium, high, xhigh, max/,
  );

  const fake = await startFakeAnthropic({
    script: [message([text('a')], { model: 'claude-opus-5-5' }), message([text('b')], { model: 'claude-haiku-4-5' })],
  });
  try {
    const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
    const acts = createModelActivities({
      anthropic: new Anthropic({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 }),
      transcripts,
    });
    for (const wf of ['night/e1', 'night/e2'])
      await putJson(transcripts, wf, keys.prompt, { system: 'You are a test.', firstMessage: 'Go.' });
    await run(acts.callModel, { workflowId: 'night/e1', turn: 1, model: 'claude-opus-5-5', effort: 'max' });
    await run(acts.callModel, { workflowId: 'night/e2', turn: 1, model: 'claude-haiku-4-5', effort: 'medium' });
    assert.deepEqual((fake.requests[0].body as { output_config?: unknown }).output_config, { effort: 'max' });
    assert.equal(
      (fake.requests[1].body as { output_config?: unknown }).output_config,
      undefined,
      'haiku 4.5 takes no effort parameter',
    );
  } finally {
    await fake.close();
  }
});

test('after a wait longer than five minutes the task writes its cache for an hour, priced at the 1-hour rate, and keeps doing so', async () => {
  const usage1h = {
    input_tokens: 10,
    output_tokens: 10,
    cache_creation_input_tokens: 1000,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 1000 },
  };
  const fake = await startFakeAnthropic({
    script: [
      message([toolUse('tu_1', 'bash', { command: 'npm test' })]),
      message([toolUse('tu_2', 'bash', { command: 'npm test' })], { usage: usage1h }),
      message([text('done')]),
    ],
  });
  try {
    const root = tmp('ttl');
    const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
    const acts = createModelActivities({
      anthropic: new Anthropic({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 }),
      transcripts,
    });
    const wf = 'night/ttl-1';
    await putJson(transcripts, wf, keys.prompt, { system: 'You are a test.', firstMessage: 'Go.' });
    await run(acts.callModel, { workflowId: wf, turn: 1, model: 'sonnet' });
    // The test suite the model started ran for six minutes.
    const rec = (await getJson<TurnRecord>(transcripts, wf, keys.turn(1)))!;
    await putJson(transcripts, wf, keys.turn(1), { ...rec, respondedAt: rec.respondedAt! - 6 * 60_000 });
    await putJson(transcripts, wf, keys.tool(1, 'tu_1'), {
      toolUseId: 'tu_1',
      name: 'bash',
      isError: false,
      content: 'ok',
      summary: 'ok',
    });
    const t2 = await run(acts.callModel, { workflowId: wf, turn: 2, model: 'sonnet' });
    await putJson(transcripts, wf, keys.tool(2, 'tu_2'), {
      toolUseId: 'tu_2',
      name: 'bash',
      isError: false,
      content: 'ok',
      summary: 'ok',
    });
    await run(acts.callModel, { workflowId: wf, turn: 3, model: 'sonnet' });

    type Req = {
      system: { cache_control?: unknown }[];
      tools: { cache_control?: unknown }[];
      messages: { content: { cache_control?: unknown }[] }[];
    };
    const ttls = (r: Req) => [
      r.tools[r.tools.length - 1].cache_control,
      r.system[0].cache_control,
      ...r.messages.flatMap((m) => m.content.map((b) => b.cache_control)).filter(Boolean),
    ];
    const [first, second, third] = fake.requests.map((q) => ttls(q.body as unknown as Req));
    assert.ok(
      first.every((c) => JSON.stringify(c) === '{"type":"ephemeral"}'),
      'turns minutes apart: the default five minutes',
    );
    assert.ok(
      second.length >= 3 && second.every((c) => JSON.stringify(c) === '{"type":"ephemeral","ttl":"1h"}'),
      JSON.stringify(second),
    );
    assert.ok(
      third.every((c) => JSON.stringify(c) === '{"type":"ephemeral","ttl":"1h"}'),
      'the hour sticks',
    );
    // sonnet 5.5: 10 in × $2 + 10 out × $10 + 1000 written for an hour × $4 = 4,120 µ$ (at the 5-minute rate it would be 2,620).
    assert.equal(t2.costUsd, 0.00412);
  } finally {
    await fake.close();
  }
});
