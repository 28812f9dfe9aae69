/**
 * The worker's log: `nightshift worker --log-format json` writes one JSON line per task
 * event (started, each turn with tokens and cost, each tool call, a command's exit, the
 * end) and nothing else but one-line JSON; the text format cuts the SDK's messages to a
 * line and keeps agent text from reaching the terminal as control characters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { TASK_QUEUE } from '../../contract';
import { NightshiftLogger, activityEvent } from '../../worker/log';
import type { BatchResult } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';
import { nightshiftBin } from '../helpers/bin';

const server = devServerForFile();
const BIN = nightshiftBin();

interface Line {
  time: string;
  event?: string;
  workflowId?: string;
  text?: string;
  level?: string;
  [k: string]: unknown;
}

test(
  'nightshift worker --log-format json: one JSON line per task event, and only JSON lines',
  { timeout: 240_000 },
  async () => {
    const fake = await startFakeAnthropic({
      byTurn: (turn) =>
        turn === 1
          ? message([text('Looking.'), toolUse('tu_1', 'bash', { command: 'echo hi' })], {
              usage: { input_tokens: 60_000, output_tokens: 48_000 },
            })
          : message([toolUse('tu_fin', 'finish', { summary: 'done', verification: 'looked' })]),
    });
    const config = testConfig(server.env);
    const child = spawn(process.execPath, [BIN, 'worker', '--log-format', 'json'], {
      cwd: config.root,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: server.env.address,
        NIGHTSHIFT_ROOT: config.root,
        ANTHROPIC_API_KEY: 'sk-test',
        ANTHROPIC_BASE_URL: fake.url,
        NIGHTSHIFT_LOG_FORMAT: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const deadline = Date.now() + 90_000;
      while (!/"event":"worker".*task queue/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the worker did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const batchId = uniqueBatchId();
      const result = (await server.env.client.workflow.execute('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: batchId,
        args: [
          {
            spec: {
              tasks: [
                { id: 'agent', title: 'agent', description: 'Look.', agent_config: { model: 'haiku' } },
                { id: 'broken', command: 'exit 3' },
              ],
            },
          },
        ],
      })) as BatchResult;
      assert.deepEqual(
        result.tasks.map((t) => `${t.taskId}:${t.status}`),
        ['agent:succeeded', 'broken:failed'],
      );
      // The last events are written as the workflows close; give the worker a moment to flush them.
      const wantEnd = `"workflowId":"${batchId}","text":"completed"`;
      for (const until = Date.now() + 15_000; !out.includes(wantEnd) && Date.now() < until;)
        await new Promise((r) => setTimeout(r, 200));

      const lines = out.split('\n').filter((l) => l.trim());
      const parsed = lines.map((l) => {
        try {
          return JSON.parse(l) as Line;
        } catch {
          return assert.fail(`not a JSON line: ${l}`);
        }
      });
      const of = (task: string) => parsed.filter((l) => l.workflowId === `${batchId}/${task}`).map((l) => l.event);
      assert.deepEqual(of('agent'), [
        'task.started',
        'task.turn',
        'task.tool',
        'task.turn',
        'task.tool',
        'task.succeeded',
      ]);
      assert.deepEqual(of('broken'), ['task.started', 'task.command', 'task.failed']);
      const turn1 = parsed.find((l) => l.workflowId === `${batchId}/agent` && l.event === 'task.turn' && l.turn === 1)!;
      assert.deepEqual(turn1.tokens, { input: 60_000, output: 48_000, cacheRead: 0, cacheWrite: 0 });
      assert.equal(turn1.costUsd, 0.03);
      assert.equal(turn1.text, 'turn 1: 60000 in / 48000 out tokens, $0.0300; 1 tool call');
      const tool = parsed.find((l) => l.workflowId === `${batchId}/agent` && l.event === 'task.tool')!;
      assert.deepEqual([tool.tool, tool.turn], ['bash', 1]);
      const failed = parsed.find((l) => l.workflowId === `${batchId}/broken` && l.event === 'task.failed')!;
      assert.match(String(failed.error), /command exited with 3/);
      assert.ok(parsed.some((l) => l.workflowId === batchId && l.event === 'batch.started'));
      // No SDK chatter at the default level (WARN): worker state changes stay out.
      assert.ok(!parsed.some((l) => /Worker state changed/.test(String(l.message))), out);
    } finally {
      child.kill('SIGINT');
      await exited;
      await fake.close();
    }
  },
);

test('text lines: a task event with its workflow ID; an SDK warning in one line without its dump; agent text without control characters', () => {
  const lines: string[] = [];
  const log = new NightshiftLogger('text', 'WARN', (l) => lines.push(l));
  const [turn, tool] = activityEvent(
    'callModel',
    'night/t1',
    { turn: 2 },
    {
      turn: 2,
      usage: { input: 10, output: 5, cacheRead: 100, cacheWrite: 0 },
      costUsd: 0.0012,
      toolCalls: [{ id: 'x', name: 'bash', summary: 'echo \u001b[2J\u001b]0;pwned\u0007 ok\nrm -rf /' }],
      model: 'claude-haiku-5-5',
    },
  );
  log.info(turn.text, { nightshiftEvent: turn });
  log.info(tool.text, { nightshiftEvent: tool });
  const err = Object.assign(new Error('boom\nsecond line'), { cause: { deep: { deeper: 'x'.repeat(5000) } } });
  log.warn('Activity failed', { activityType: 'runTool', workflowId: 'night/t1', error: err, durationMs: 3 });
  log.info('Worker state changed', { state: 'RUNNING' });
  log.debug('Workflow started', { workflowType: 'agentTask', workflowId: 'night/t1' });
  assert.equal(lines.length, 4, lines.join('\n'));
  assert.match(lines[0], /^\S+Z night\/t1 turn 2: 110 in \/ 5 out tokens, \$0\.0012; 1 tool call$/);
  assert.match(lines[1], /^\S+Z night\/t1 turn 2: bash echo \[2J ]0;pwned ok rm -rf \/$/);
  assert.ok(!/[\u0000-\u001f]/.test(lines.join('')), 'no control characters');
  assert.match(lines[2], /^\S+Z WARN Activity failed \(night\/t1 runTool\): boom second line$/);
  assert.match(lines[3], /^\S+Z night\/t1 started$/);
});

test('each event a task shows its progress by: question, answer, checks, push, pull request, command', () => {
  const ev = (type: string, input: unknown, result: unknown) =>
    activityEvent(type, 'night/t1', input, result).map((e) => `${e.event} ${e.text}`);
  assert.deepEqual(ev('recordQuestion', { turn: 3 }, { question: 'Which\u001b[31m store?' }), [
    'task.question asks: Which [31m store?',
  ]);
  assert.deepEqual(ev('recordAnswer', { turn: 3, summary: 'use SQLite' }, { chars: 10 }), [
    'task.answered got an answer: use SQLite',
  ]);
  assert.deepEqual(
    ev(
      'runChecks',
      {},
      {
        passed: false,
        results: [
          { command: 'npm test', exitCode: 1, passed: false },
          { command: 'npm run lint', exitCode: 0, passed: true },
        ],
      },
    ),
    ['task.checks checks FAILED: npm test (exit 1)'],
  );
  assert.deepEqual(
    ev('runChecks', {}, { passed: true, results: [{ command: 'npm test', exitCode: 0, passed: true }] }),
    ['task.checks checks passed (1)'],
  );
  assert.deepEqual(ev('pushWork', { branch: 'nightshift/d/t1' }, { pushed: true }), [
    'task.delivered pushed nightshift/d/t1',
  ]);
  assert.deepEqual(ev('pushWork', { branch: 'nightshift/d/t1' }, { pushed: false, reason: 'no remote' }), [
    'task.delivered kept nightshift/d/t1 locally, not pushed: no remote',
  ]);
  assert.deepEqual(ev('openPullRequest', {}, { url: 'https://github.test/a/b/pull/7', draft: true }), [
    'task.delivered draft pull request https://github.test/a/b/pull/7',
  ]);
  assert.deepEqual(ev('runCommandTask', {}, { exitCode: 2, timedOut: false, durationMs: 1500 }), [
    'task.command command exited 2 after 1.5 s',
  ]);
  assert.deepEqual(ev('runTool', {}, { chars: 3 }), [], 'tool calls are told once, from the turn that made them');
});
