/**
 * The agent loop on a real dev server, driven by the real SDK against a scripted Messages
 * API on loopback: tools reach the sandbox, results reach the model, history stays small,
 * API errors are retried or fail the task as they should, and the loop ends the right way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';
import {
  badRequest,
  malformed,
  message,
  overloaded,
  rateLimited,
  startFakeAnthropic,
  text,
  toolUse,
} from '../fakes/anthropic-server';
import { WorkflowFailedError } from '@temporalio/client';
import { workDirFor } from '../../activities/task/sandbox-steps';
import { agentInput, agentSpec, historyBytes, runAgentTask, startAgentTask, withModel, workflowIdOf } from './helpers';
import { taskRunKey } from '../../workflows/task/messages';

const server = devServerForFile();

const finish = (id = 'tu_fin') =>
  message([text('All done.'), toolUse(id, 'finish', { summary: 'Added greet.js', verification: 'ran node greet.js' })]);

test('a task runs its tool calls in the sandbox, feeds results back, and finishes with totals', async () => {
  const big = 'x'.repeat(200_000) + '\n';
  const usage = {
    input_tokens: 1000,
    output_tokens: 200,
    cache_creation_input_tokens: 3000,
    cache_read_input_tokens: 5000,
  };
  const fake = await startFakeAnthropic({
    script: [
      message(
        [
          text('Writing the module.'),
          toolUse('tu_1', 'write_file', { path: 'greet.js', content: 'console.log("hello")\n' }),
        ],
        { usage },
      ),
      message(
        [
          toolUse('tu_2', 'write_file', { path: 'big.txt', content: big }),
          toolUse('tu_3', 'bash', { command: 'node greet.js >> log.txt; cat log.txt' }),
        ],
        { usage },
      ),
      message([toolUse('tu_4', 'edit_file', { path: 'greet.js', old_text: 'hello', new_text: 'hello, night' })], {
        usage,
      }),
      message([toolUse('tu_5', 'read_file', { path: 'missing.js' })], { usage }),
      finish(),
    ],
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    // No model and no complexity named: the default night's model.
    const input = agentInput(agentSpec({ maxTurns: 10 }));
    const { result, firstRunId } = await runAgentTask(server.env, worker, input);

    assert.equal(result.status, 'succeeded', result.error);
    assert.match(result.summary ?? '', /Added greet\.js[\s\S]*ran node greet\.js/);
    assert.equal(result.turns, 5);
    // Four scripted turns plus finish's default usage (100 in, 20 out).
    assert.deepEqual(result.tokens, { input: 4100, output: 820, cacheWrite: 12000, cacheRead: 20000 });
    // sonnet 5.5 $/Mtok 2 in, 10 out, 2.50 cache write, 0.20 cache read:
    // 1000×2 + 200×10 + 3000×2.5 + 5000×0.2 = 12,500 µ$ per turn; finish 100×2 + 20×10 = 400 µ$.
    assert.equal(result.costUsd, 0.0504);
    assert.equal(result.model, 'claude-sonnet-5-5');
    assert.equal(fake.exhausted, undefined);

    // The work was kept after the sandbox was killed.
    assert.ok(result.workDir);
    assert.equal(readFileSync(path.join(result.workDir, 'greet.js'), 'utf8'), 'console.log("hello, night")\n');
    assert.equal(readFileSync(path.join(result.workDir, 'log.txt'), 'utf8'), 'hello\n');
    assert.equal(readFileSync(path.join(result.workDir, 'big.txt'), 'utf8'), big);

    // Requests: model, cache breakpoints on tools, system and the moving tail; tool results fed back.
    const bodies = fake.requests.map(
      (r) =>
        r.body as {
          model: string;
          system: { cache_control?: unknown }[];
          tools: { cache_control?: unknown }[];
          messages: {
            role: string;
            content: { type: string; content?: string; is_error?: boolean; cache_control?: unknown }[];
          }[];
        },
    );
    assert.equal(
      bodies[0].model,
      'claude-sonnet-5-5',
      'a task that names no model runs on the sonnet alias, the current family',
    );
    assert.ok(bodies[0].system[0].cache_control);
    assert.ok(bodies[0].tools[bodies[0].tools.length - 1].cache_control);
    const third = bodies[2].messages;
    const tail = third[third.length - 1].content;
    assert.ok(tail[tail.length - 1].cache_control, 'tail breakpoint');
    const prevUser = third[third.length - 3].content;
    assert.ok(prevUser[prevUser.length - 1].cache_control, 'previous tail breakpoint');
    assert.match(
      tail.find((b) => b.type === 'tool_result' && /exit code: 0/.test(b.content ?? ''))?.content ?? '',
      /stdout:\nhello/,
    );
    const fifth = bodies[4].messages;
    const missing = fifth[fifth.length - 1].content[0];
    assert.equal(missing.is_error, true);
    assert.match(missing.content ?? '', /No such file: missing\.js/);

    // Claim check: a 200 KB write_file never entered history.
    const h = await historyBytes(server.env, workflowIdOf(input), firstRunId);
    const perTurn = h.bytes / result.turns;
    console.log(
      `history: ${h.bytes} bytes, ${h.events} events over ${result.turns} turns = ${Math.round(perTurn)} B/turn`,
    );
    assert.ok(perTurn <= 8 * 1024, `history per turn ${perTurn} B > 8 KiB`);
  } finally {
    await fake.close();
  }
});

test('429 with retry-after, 529 and a malformed body are retried; the task still succeeds', async () => {
  const fake = await startFakeAnthropic({
    script: [
      // The loop retries each model call itself (one activity attempt each), after retry-after when one was sent.
      rateLimited(1),
      rateLimited(1),
      message([toolUse('tu_1', 'bash', { command: 'echo once >> runs.txt' })]),
      overloaded(),
      overloaded(),
      malformed(),
      finish(),
    ],
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const { result } = await runAgentTask(server.env, worker, agentInput(agentSpec({ model: 'haiku' })));
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(fake.requests.length, 7);
    const at = fake.requests.map((r) => r.at);
    assert.ok(at[1] - at[0] >= 950, `the first retry honoured retry-after (${at[1] - at[0]} ms)`);
    assert.ok(at[2] - at[1] >= 950, `the second retry honoured retry-after (${at[2] - at[1]} ms)`);
    // 429 and 529 are never billed; the malformed 200 was, and nothing of its usage could be read.
    assert.deepEqual(
      result.interruptedCalls?.map((c) => [c.turn, c.attempt, c.basis]),
      [[2, 3, 'worst_case']],
    );
    assert.ok(
      Math.abs(result.costUsd - fake.billing().costUsd - result.interruptedCalls![0].bookedUsd) < 1e-9,
      `cost ${result.costUsd} = billed answers + the worst case booked for the malformed one`,
    );
    assert.equal(
      readFileSync(path.join(result.workDir!, 'runs.txt'), 'utf8'),
      'once\n',
      'the tool ran once despite model retries',
    );
    assert.equal(result.turns, 2);
  } finally {
    await fake.close();
  }
});

test('a 400 fails the task at once with the API message, without retrying', async () => {
  const fake = await startFakeAnthropic({ script: [badRequest()] });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const { result } = await runAgentTask(server.env, worker, agentInput(agentSpec()));
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /rejected the request \(HTTP 400\): prompt is too long/);
    assert.equal(fake.requests.length, 1);
  } finally {
    await fake.close();
  }
});

test('max_turns ends the task incomplete, with the work kept', async () => {
  let n = 0;
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      message([toolUse(`tu_${turn}`, 'bash', { command: `echo ${turn} >> turns.txt` })], {
        usage: { input_tokens: 10, output_tokens: 1 },
      }),
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const { result } = await runAgentTask(server.env, worker, agentInput(agentSpec({ maxTurns: 3 })));
    n = fake.requests.length;
    assert.equal(result.status, 'incomplete');
    assert.match(result.error ?? '', /max_turns \(3\)/);
    assert.equal(result.turns, 3);
    assert.equal(n, 3);
    assert.equal(readFileSync(path.join(result.workDir!, 'turns.txt'), 'utf8'), '1\n2\n3\n');
  } finally {
    await fake.close();
  }
});

test('continue-as-new carries turn, totals and sandbox; no turn is asked twice', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn < 6
        ? message([toolUse(`tu_${turn}`, 'bash', { command: `echo ${turn} >> turns.txt` })], {
            usage: { input_tokens: 100, output_tokens: 10 },
          })
        : finish(`tu_${turn}`),
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const input = agentInput(agentSpec({ model: 'haiku' }), { continueAsNewEveryTurns: 2 });
    const { result, firstRunId } = await runAgentTask(server.env, worker, input);
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.turns, 6);
    assert.deepEqual(result.tokens, { input: 500 + 100, output: 50 + 20, cacheWrite: 0, cacheRead: 0 });
    assert.deepEqual([...fake.turnCounts().values()], [1, 1, 1, 1, 1, 1]);
    assert.equal(readFileSync(path.join(result.workDir!, 'turns.txt'), 'utf8'), '1\n2\n3\n4\n5\n');
    const h = await historyBytes(server.env, workflowIdOf(input), firstRunId);
    assert.equal(h.runs, 3);
  } finally {
    await fake.close();
  }
});

test('a git commit from the agent halts the task under the safety policy', async () => {
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'bash', { command: 'echo x > a && git add -A && git commit -m x' })])],
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const { result } = await runAgentTask(server.env, worker, agentInput(agentSpec()));
    assert.equal(result.status, 'halted');
    assert.match(result.error ?? '', /no-git-writes/);
  } finally {
    await fake.close();
  }
});

test('cancelling a running task keeps its work and removes its sandbox', async () => {
  let hung!: () => void;
  const reachedTurn2 = new Promise<void>((resolve) => (hung = resolve));
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) return message([toolUse('tu_1', 'write_file', { path: 'kept.txt', content: 'mine\n' })]);
      hung();
      return { status: 0, hang: true };
    },
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const input = agentInput(agentSpec({ id: 'cancel-me' }), { heartbeatTimeoutMs: 2000 });
    const handle = await startAgentTask(server.env, input);
    await worker.runUntil(async () => {
      await reachedTurn2;
      await handle.cancel();
      await assert.rejects(handle.result(), (err) => err instanceof WorkflowFailedError);
    });
    const sandboxes = path.join(config.root, '.nightshift', 'sandboxes');
    assert.deepEqual(
      existsSync(sandboxes) ? readdirSync(sandboxes).filter((d) => d.startsWith('sbx-')) : [],
      [],
      'the sandbox is gone',
    );
    assert.equal(
      readFileSync(
        path.join(workDirFor(config, taskRunKey(workflowIdOf(input), handle.firstExecutionRunId)), 'kept.txt'),
        'utf8',
      ),
      'mine\n',
    );
  } finally {
    await fake.close();
  }
});
