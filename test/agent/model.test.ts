/**
 * callModel and runTool as single activities (MockActivityEnvironment, real SDK, loopback
 * Messages API, real local sandbox): idempotency by turn and tool_use id, cost arithmetic
 * against hand-computed figures, error mapping, cache breakpoints and elision.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../activities/task/sandbox-steps';
import { createModelActivities } from '../../activities/model/call-model';
import { retryAfterMs, toActivityError } from '../../activities/model/client';
import { MODEL_CALL_INTERRUPTED } from '../../workflows/budget/arithmetic';
import { ELIDED_NOTE, fitContext, withCacheBreakpoints } from '../../activities/model/request';
import {
  FileTranscriptStore,
  getJson,
  keys,
  putJson,
  safeWorkflowDirName,
  type ToolRecord,
} from '../../activities/task/transcripts';
import { ModelRequestInvalid } from '../../common/errors';
import { costOf, priceOf, worstCasePrice, MODEL_PRICES } from '../../common/models';
import { routeSandboxes } from '../../sandbox/router';
import { createLocalProvider } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';

after(async () => {
  await shutdownIsolation();
});

function setup(url?: string) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-model-'));
  const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
  const anthropic = url ? new Anthropic({ apiKey: 'sk-test', baseURL: url, maxRetries: 0 }) : undefined;
  const sandboxes = createLocalProvider({ root: path.join(root, 'sandboxes') });
  return {
    transcripts,
    sandboxes,
    model: createModelActivities({ anthropic, transcripts }),
    agent: createAgentActivities({ config: { root }, sandboxes: routeSandboxes({ local: sandboxes }), transcripts }),
  };
}

const WF = 'night/task-1';

/** MockActivityEnvironment.run, typed by the activity it runs. */
function run<A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, a) as Promise<R>;
}
const prompt = { system: 'You are a test.', firstMessage: 'Go.' };

test('cost arithmetic matches hand-computed figures', () => {
  const usage = { input: 1200, output: 350, cacheWrite: 4000, cacheRead: 20000 };
  // haiku 4.5: 1200×1 + 350×5 + 4000×1.25 + 20000×0.10 = 1200 + 1750 + 5000 + 2000 = 9,950 µ$
  assert.equal(costOf(usage, MODEL_PRICES['claude-haiku-4-5']), 0.00995);
  // sonnet 4.5: 1200×3 + 350×15 + 4000×3.75 + 20000×0.30 = 3600 + 5250 + 15000 + 6000 = 29,850 µ$
  assert.equal(costOf(usage, MODEL_PRICES['claude-sonnet-4-5']), 0.02985);
  // opus 4.5: 1200×5 + 350×25 + 4000×6.25 + 20000×0.50 = 6000 + 8750 + 25000 + 10000 = 49,750 µ$
  assert.equal(costOf(usage, MODEL_PRICES['claude-opus-4-5']), 0.04975);
  // One cache-read token of haiku is a tenth of a millionth of a dollar, and is not rounded away.
  assert.equal(costOf({ input: 0, output: 0, cacheWrite: 0, cacheRead: 1 }, MODEL_PRICES['claude-haiku-4-5']), 1e-7);
  assert.equal(priceOf('claude-sonnet-4-5-20250929'), MODEL_PRICES['claude-sonnet-4-5']);
  assert.equal(priceOf('haiku'), MODEL_PRICES['claude-haiku-5-5']);
  assert.equal(priceOf('claude-unknown-9'), undefined);
  assert.equal(priceOf('claude-opus-5-5'), MODEL_PRICES['claude-opus-5-5']);
  assert.notEqual(
    priceOf('claude-opus-5-5')?.input,
    priceOf('claude-opus-5')?.input,
    'a newer model is not priced as an older one',
  );
  // The dearest row is Fable 5.1/5 ($10 in, $50 out), past every tier of every other model.
  assert.equal(worstCasePrice().output, 50);
  assert.equal(worstCasePrice().input, 10);
});

test('callModel: turn N is asked once; a retry returns the stored response without calling the API', async () => {
  const usage = {
    input_tokens: 1000,
    output_tokens: 100,
    cache_creation_input_tokens: 2000,
    cache_read_input_tokens: 0,
  };
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'bash', { command: 'echo hi >> out.txt' })], { usage })],
  });
  try {
    const s = setup(fake.url);
    await putJson(s.transcripts, WF, keys.prompt, prompt);
    const first = await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-opus-4-5' });
    const again = await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-opus-4-5' });
    assert.deepEqual(again, first);
    assert.equal(fake.requests.length, 1);
    assert.deepEqual(first.toolCalls, [{ id: 'tu_1', name: 'bash', summary: 'echo hi >> out.txt' }]);
    // opus 4.5: 1000×5 + 100×25 + 2000×6.25 = 20,000 µ$
    assert.equal(first.costUsd, 0.02);
    assert.equal(first.costEstimated, false);
    assert.ok(JSON.stringify(first).length < 1000, 'the summary the workflow keeps is small');
  } finally {
    await fake.close();
  }
});

test('callModel: a model missing from the price table is charged at the dearest row, and flagged', async () => {
  const fake = await startFakeAnthropic({
    script: [message([], { usage: { input_tokens: 1000, output_tokens: 1000 } })],
  });
  try {
    const s = setup(fake.url);
    await putJson(s.transcripts, WF, keys.prompt, prompt);
    const t = await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-future-9' });
    assert.equal(t.costEstimated, true);
    assert.equal(t.costUsd, (1000 * 10 + 1000 * 50) / 1e6);
  } finally {
    await fake.close();
  }
});

test('callModel without a key or base URL fails as ModelNotConfigured', async () => {
  const s = setup();
  await putJson(s.transcripts, WF, keys.prompt, prompt);
  await assert.rejects(run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-haiku-4-5' }), {
    name: 'ModelNotConfigured',
  });
});

test('runTool: a retried tool call returns the stored result and does not run again', async () => {
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'bash', { command: 'echo hi >> out.txt' })])],
  });
  try {
    const s = setup(fake.url);
    await putJson(s.transcripts, WF, keys.prompt, prompt);
    await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-haiku-4-5' });
    const { sandboxId } = await run(s.agent.createAgentSandbox, { workflowId: WF });
    const a = await run(s.agent.runTool, { workflowId: WF, turn: 1, toolUseId: 'tu_1', sandboxId });
    const b = await run(s.agent.runTool, { workflowId: WF, turn: 1, toolUseId: 'tu_1', sandboxId });
    assert.deepEqual(a, b);
    const sandbox = await s.sandboxes.connect(sandboxId);
    assert.equal(new TextDecoder().decode(await sandbox.readFile('out.txt')), 'hi\n');
    await sandbox.kill();
  } finally {
    await fake.close();
  }
});

test('runTool: a bash call whose worker died mid-run is reported, not run again', async () => {
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'bash', { command: 'echo hi >> out.txt' })])],
  });
  try {
    const s = setup(fake.url);
    await putJson(s.transcripts, WF, keys.prompt, prompt);
    await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-haiku-4-5' });
    const { sandboxId } = await run(s.agent.createAgentSandbox, { workflowId: WF });
    // What a worker killed during the command leaves behind: the marker, no result.
    await s.transcripts.put(WF, keys.toolStarted(1, 'tu_1'), 'then');
    const r = await run(s.agent.runTool, { workflowId: WF, turn: 1, toolUseId: 'tu_1', sandboxId });
    assert.equal(r.isError, true);
    const stored = await getJson<ToolRecord>(s.transcripts, WF, keys.tool(1, 'tu_1'));
    assert.match(stored?.content ?? '', /died before it reported back.*It was not run again/s);
    const sandbox = await s.sandboxes.connect(sandboxId);
    await assert.rejects(sandbox.readFile('out.txt'));
    await sandbox.kill();
  } finally {
    await fake.close();
  }
});

test('callModel with an attempt streams: the answer is stored with its attempt, usage rides on the heartbeats', async () => {
  const usage = { input_tokens: 3000, output_tokens: 700 };
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'bash', { command: 'echo hi' })], { usage })],
  });
  try {
    const s = setup(fake.url);
    await putJson(s.transcripts, WF, keys.prompt, prompt);
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const first = (await env.run(s.model.callModel, {
      workflowId: WF,
      turn: 1,
      model: 'claude-haiku-4-5',
      attempt: 1,
    })) as Awaited<ReturnType<typeof s.model.callModel>>;
    assert.equal(fake.requests[0].body.stream, true);
    assert.equal(first.attempt, 1);
    assert.deepEqual(first.usage, { input: 3000, output: 700, cacheWrite: 0, cacheRead: 0 });
    assert.deepEqual(first.toolCalls, [{ id: 'tu_1', name: 'bash', summary: 'echo hi' }]);
    assert.deepEqual(
      beats[0],
      { turn: 1, attempt: 1, usage: { input: 3000, output: 1, cacheWrite: 0, cacheRead: 0 }, complete: false },
      'message_start is heartbeated',
    );
    assert.deepEqual(beats.at(-1), {
      turn: 1,
      attempt: 1,
      usage: { input: 3000, output: 700, cacheWrite: 0, cacheRead: 0 },
      complete: true,
    });
    // Attempt 2 after a worker died unreported gets attempt 1's stored answer, naming attempt 1.
    const again = await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-haiku-4-5', attempt: 2 });
    assert.deepEqual(again, first);
    assert.equal(fake.billing().requests, 1);
  } finally {
    await fake.close();
  }
});

test('a stream cut after message_start fails as ModelCallInterrupted with its input usage; a refused connection books nothing', async () => {
  const cut = {
    ...message([toolUse('tu_1', 'bash', { command: 'echo hi' })], {
      usage: { input_tokens: 3000, output_tokens: 8192 },
    }),
    cutAfterEvents: 2,
    streamDelayMs: 50,
  };
  const fake = await startFakeAnthropic({ script: [cut] });
  try {
    const s = setup(fake.url);
    await putJson(s.transcripts, WF, keys.prompt, prompt);
    const err = await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-haiku-4-5', attempt: 1 }).then(
      () => assert.fail('a cut stream cannot succeed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, MODEL_CALL_INTERRUPTED);
    assert.deepEqual(err.details, [
      { usage: { input: 3000, output: 1, cacheWrite: 0, cacheRead: 0 }, complete: false },
    ]);
    assert.equal(
      fake.billing().costUsd,
      costOf({ input: 3000, output: 8192, cacheWrite: 0, cacheRead: 0 }, MODEL_PRICES['claude-haiku-4-5']),
      'the API billed the whole answer',
    );
  } finally {
    await fake.close();
  }
  // Nothing listens on a closed fake's port: the request never left, so it is an unbilled ModelUnavailable.
  const s = setup(fake.url);
  await putJson(s.transcripts, WF, keys.prompt, prompt);
  const refused = await run(s.model.callModel, { workflowId: WF, turn: 1, model: 'claude-haiku-4-5', attempt: 1 }).then(
    () => assert.fail('nothing listens'),
    (e: unknown) => e,
  );
  assert.ok(refused instanceof ApplicationFailure, String(refused));
  assert.equal(refused.type, 'ModelUnavailable');
});

test('API errors map to the retry contract: retry-after honoured, 400 not retried', () => {
  const h = (o: Record<string, string>) => new Headers(o);
  assert.equal(retryAfterMs(h({ 'retry-after': '3' })), 3000);
  assert.equal(retryAfterMs(h({ 'retry-after-ms': '250' })), 250);
  assert.equal(retryAfterMs(h({ 'retry-after': new Date(10_000).toUTCString() }), 4_000), 6_000);
  assert.equal(retryAfterMs(h({})), undefined);

  const limited = toActivityError(
    Anthropic.APIError.generate(
      429,
      { type: 'error', error: { type: 'rate_limit_error', message: 'slow' } },
      undefined,
      h({ 'retry-after': '7' }),
    ),
  );
  assert.ok(limited instanceof ApplicationFailure);
  assert.equal(limited.type, 'ModelUnavailable');
  assert.equal(limited.nonRetryable, false);
  assert.equal(limited.nextRetryDelay, 7000);
  const overloaded = toActivityError(
    Anthropic.APIError.generate(
      529,
      { type: 'error', error: { type: 'overloaded_error', message: 'busy' } },
      undefined,
      h({}),
    ),
  );
  assert.ok(overloaded instanceof ApplicationFailure && overloaded.nextRetryDelay === undefined);
  const bad = toActivityError(
    Anthropic.APIError.generate(
      400,
      { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long' } },
      undefined,
      h({}),
    ),
  );
  assert.ok(bad instanceof ModelRequestInvalid);
  assert.match(bad.message, /HTTP 400\): prompt is too long/);
});

test('cache breakpoints: last tool, system, and the last two user turns', () => {
  const messages: Anthropic.MessageParam[] = [
    { role: 'user', content: 'Go.' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'bash', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'a', content: 'ok' }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'b', name: 'bash', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'b', content: 'ok' }] },
  ];
  const r = withCacheBreakpoints('sys', messages);
  const marked = (m: Anthropic.MessageParam) =>
    (m.content as { cache_control?: unknown }[]).some((b) => b.cache_control);
  assert.deepEqual(r.messages.map(marked), [false, false, true, false, true]);
  assert.ok(r.system[0].cache_control);
  assert.equal(r.tools.filter((t) => t.cache_control).length, 1);
  assert.equal(messages[4].content[0 as never]['cache_control' as never], undefined, 'the input is not mutated');
});

test('near the context window, older tool results are elided with a note; recent ones kept', () => {
  const big = 'y'.repeat(40_000);
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Go.' }];
  for (let i = 0; i < 8; i++) {
    messages.push({ role: 'assistant', content: [{ type: 'tool_use', id: `t${i}`, name: 'read_file', input: {} }] });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: big }] });
  }
  assert.deepEqual(
    fitContext(
      messages.map((m) => ({ ...m })),
      'sys',
      0,
      { contextWindow: 1_000_000, maxTokens: 8000 },
    ),
    { elided: 0, elidedThroughTurn: 0 },
    'far from the window: nothing elided',
  );
  // 150k tokens counted by the API + 8k reply passes 75% of 200k; eliding the four oldest results brings it under 50%.
  const fit = fitContext(messages, 'sys', 150_000, { contextWindow: 200_000, maxTokens: 8000 });
  assert.deepEqual(fit, { elided: 4, elidedThroughTurn: 4 });
  const contents = messages
    .filter((m) => m.role === 'user')
    .slice(1)
    .map((m) => (m.content as Anthropic.ToolResultBlockParam[])[0].content);
  assert.deepEqual(contents.slice(0, 4), Array(4).fill(ELIDED_NOTE(40_000)));
  assert.deepEqual(contents.slice(4), Array(4).fill(big));
});

test('transcript directories: distinct workflow IDs never share one', () => {
  assert.notEqual(safeWorkflowDirName('a/b'), safeWorkflowDirName('a_b'));
  assert.match(safeWorkflowDirName('nightshift-2026-11-21/task-001'), /^nightshift-2026-11-21_task-001-[0-9a-f]{10}$/);
});
