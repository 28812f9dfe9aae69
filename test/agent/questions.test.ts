/**
 * ask_human on a real dev server: the question is recorded (store, agent_questions file),
 * goes out on Telegram, Slack and a webhook (loopback servers speaking their wire
 * formats), the task waits durably, and every answer path resumes it with the answer in
 * the very next model request. Timeout policies continue, park and fail. A worker killed
 * while the task waits: the answer sent meanwhile is delivered when a worker returns. A
 * reply to the question's Telegram message, read by `nightshift telegram` from getUpdates,
 * answers it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type NightshiftConfig } from '../../common/config';
import { TASK_QUEUE } from '../../contract';
import type { MessagesRequest } from '../../demo/messages-server';
import type { BatchResult, BatchStatus, TaskStatus } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startRecordingServer, type RecordingServer } from '../fakes/notify-servers';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { agentInput, agentSpec, startAgentTask, withModel, taskResultOf } from './helpers';
import { nightshiftBin } from '../helpers/bin';

const server = devServerForFile();
const run = promisify(execFile);
const T = { timeout: 180_000 };

const ASK = {
  context:
    'I am adding pagination to the funerals list and found two patterns: weddings/list.ts and docs/PAGINATION.md.',
  question: 'Which pagination pattern should I follow?',
  options: ['A) the weddings module pattern', 'B) the PAGINATION.md pattern'],
  impact: 'Consistency across modules.',
  assumption: 'pattern B, the documented one',
};

/** The text the model received as tool results in `req`'s last message. */
function lastToolResults(req: MessagesRequest): string {
  const msgs = req.body.messages ?? [];
  return JSON.stringify(msgs[msgs.length - 1]?.content ?? '');
}

/** Turn 1 asks, turn 2 finishes; the reply for each task is picked by the task id in the first message. */
function askThenFinish(turn: number) {
  if (turn === 1) return message([text('I need a decision.'), toolUse('tu_ask', 'ask_human', ASK)]);
  return message([toolUse(`tu_fin_${turn}`, 'finish', { summary: 'paginated', verification: 'ran the tests' })]);
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function notifyConfig(
  config: NightshiftConfig,
  tg: RecordingServer,
  slack: RecordingServer,
  hook: RecordingServer,
): NightshiftConfig {
  return {
    ...config,
    notify: {
      telegramBotToken: 'bot-token',
      telegramChatId: '4242',
      telegramApiUrl: tg.url,
      slackWebhookUrl: slack.url,
      webhookUrl: hook.url,
    },
  };
}

test(
  'a question goes out on Telegram, Slack and the webhook; a signal on the task resumes it with the answer',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: askThenFinish });
    const [tg, slack, hook] = await Promise.all([
      startRecordingServer({ kind: 'telegram' }),
      startRecordingServer({ kind: 'slack' }),
      startRecordingServer({ kind: 'webhook' }),
    ]);
    try {
      const config = notifyConfig(withModel(testConfig(server.env), fake.url), tg, slack, hook);
      const worker = await testWorker(server.env, config);
      const input = agentInput(agentSpec({ id: 'ask-1', model: 'haiku' }));
      const result = await worker.runUntil(async () => {
        const handle = await startAgentTask(server.env, input);
        const sent = await hook.waitFor((r) => r.body.event === 'question');
        const status: TaskStatus = await handle.query('status');
        assert.equal(status.status, 'waiting_for_answer');
        assert.equal(status.questions?.length, 1);
        const q = status.questions![0];
        assert.equal(q.question, ASK.question);
        assert.equal(q.assumption, ASK.assumption);
        assert.deepEqual(q.options, ASK.options);
        assert.equal((sent.body.question as { questionId: string }).questionId, q.questionId);
        // The question file, self-contained.
        const file = readFileSync(path.join(config.root, 'agent_questions', 'ask-1.md'), 'utf8');
        for (const part of [
          '## Context',
          ASK.context,
          '## Question',
          '## Options',
          ASK.options[1],
          '## Impact',
          ASK.assumption,
          'nightshift answer ask-1',
        ])
          assert.ok(file.includes(part), `question file has ${part}`);
        await handle.signal('answer', { text: 'Use pattern B from PAGINATION.md' });
        return await taskResultOf(handle);
      });
      assert.equal(result.status, 'succeeded', result.error);
      assert.equal(fake.requests.length, 2);
      assert.match(lastToolResults(fake.requests[1]), /Answer from a person: Use pattern B from PAGINATION\.md/);

      const tgReq = tg.requests.find((r) => String(r.body.text).includes(ASK.question));
      assert.ok(tgReq, 'Telegram got the question');
      assert.equal(tgReq.path, '/botbot-token/sendMessage');
      assert.equal(tgReq.body.chat_id, '4242');
      assert.match(String(tgReq.body.text), /If nobody answers by .*: assume pattern B/);
      assert.ok(
        slack.requests.some((r) => String(r.body.text).includes(ASK.question)),
        'Slack got the question',
      );
      assert.equal(hook.requests.filter((r) => r.body.event === 'question').length, 1, 'sent once');
    } finally {
      await Promise.all([fake.close(), tg.close(), slack.close(), hook.close()]);
    }
  },
);

test(
  'an answer sent before the question is asked is kept and answers it; a failing channel is a note, not a failure',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: askThenFinish });
    const broken = await startRecordingServer({ kind: 'webhook', failWith: 500 });
    try {
      const config = {
        ...withModel(testConfig(server.env), fake.url),
        notify: { telegramApiUrl: 'http://127.0.0.1:9', webhookUrl: broken.url },
      };
      const worker = await testWorker(server.env, config, { deps: { notify: { backoffMs: 10 } } });
      const input = agentInput(agentSpec({ id: 'ask-early', model: 'haiku' }));
      const result = await worker.runUntil(async () => {
        const handle = await startAgentTask(server.env, input);
        await handle.signal('answer', { text: 'Early answer: B' });
        return await taskResultOf(handle);
      });
      assert.equal(result.status, 'succeeded', result.error);
      assert.match(lastToolResults(fake.requests[1]), /Answer from a person: Early answer: B/);
      assert.equal(broken.requests.length, 3, 'three attempts');
      assert.ok(
        result.notes?.some((n) => /not delivered by webhook: 3 attempts: HTTP 500/.test(n)),
        JSON.stringify(result.notes),
      );
    } finally {
      await Promise.all([fake.close(), broken.close()]);
    }
  },
);

/** One agent task per id, each answered by its own script, in one batch started from an inline spec. */
function startBatch(env: TestWorkflowEnvironment, spec: Record<string, unknown>, id = uniqueBatchId()) {
  return env.client.workflow.start('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId: id, args: [{ spec }] });
}

const agentTaskFile = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  title: `task ${id}`,
  description: `Do ${id}.`,
  agent_config: { model: 'haiku' },
  ...extra,
});

const nightshift = (root: string, ...args: string[]) =>
  run(process.execPath, [nightshiftBin(), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: server.env.address, NIGHTSHIFT_ROOT: root },
  });

test(
  'answers through the batch signal, `nightshift answer`, and `nightshift answer --from-files`; `nightshift questions` lists them',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: askThenFinish });
    try {
      const config = withModel(testConfig(server.env), fake.url);
      const worker = await testWorker(server.env, config);
      const batchId = uniqueBatchId();
      const result = await worker.runUntil(async () => {
        const handle = await startBatch(
          server.env,
          { max_concurrent_agents: 3, tasks: ['via-batch', 'via-cli', 'via-files'].map((id) => agentTaskFile(id)) },
          batchId,
        );
        const s = await until<BatchStatus>(
          () => handle.query('status'),
          (v) => (v.questions?.length ?? 0) === 3,
        );
        assert.deepEqual(s.questions!.map((q) => q.taskId).sort(), ['via-batch', 'via-cli', 'via-files']);
        assert.equal(s.tasks.find((t) => t.taskId === 'via-cli')?.status, 'waiting_for_answer');
        assert.equal(
          s.questions![0].answerCommand,
          `nightshift answer ${s.questions![0].taskId} "…" --batch ${batchId}`,
        );

        const listed = JSON.parse((await nightshift(config.root, 'questions', '--json')).stdout) as {
          taskId: string;
          batchId: string;
          ageMs: number;
        }[];
        assert.deepEqual(
          listed
            .filter((q) => q.batchId === batchId)
            .map((q) => q.taskId)
            .sort(),
          ['via-batch', 'via-cli', 'via-files'],
        );
        assert.match(
          (await nightshift(config.root, 'questions')).stdout,
          /TASK\s+AGE\s+QUESTION\s+ANSWER WITH[\s\S]*via-cli/,
        );

        await handle.signal('answer', { taskId: 'via-batch', text: 'batch says B' });
        const cli = await nightshift(config.root, 'answer', 'via-cli', 'cli says B');
        assert.match(cli.stdout, new RegExp(`answered via-cli \\(${batchId}/via-cli\\)`));
        writeFileSync(
          path.join(config.root, 'agent_questions', 'via-files-answer.md'),
          '# Answer to via-files\n\nfiles say B\n',
        );
        const files = JSON.parse((await nightshift(config.root, 'answer', '--from-files', '--json')).stdout);
        assert.deepEqual(
          files.sent.map((a: { taskId: string }) => a.taskId),
          ['via-files'],
        );
        assert.ok(existsSync(path.join(config.root, 'agent_questions', 'via-files-answer.sent.md')));
        return (await handle.result()) as BatchResult;
      });
      assert.deepEqual(
        result.tasks.map((t) => `${t.taskId}:${t.status}`),
        ['via-batch:succeeded', 'via-cli:succeeded', 'via-files:succeeded'],
      );
      const second = (id: string) =>
        fake.requests.find((r) => r.turn === 2 && JSON.stringify(r.body.messages?.[0]).includes(`task ${id}:`))!;
      assert.match(lastToolResults(second('via-batch')), /Answer from a person: batch says B/);
      assert.match(lastToolResults(second('via-cli')), /Answer from a person: cli says B/);
      assert.match(lastToolResults(second('via-files')), /Answer from a person: files say B/);

      await assert.rejects(
        nightshift(config.root, 'answer', 'no-such-task', 'x'),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 5);
          assert.match(err.stderr, /no running task "no-such-task"/);
          return true;
        },
      );
    } finally {
      await fake.close();
    }
  },
);

test('question timeouts: continue on the assumption, park (dependents held), fail', T, async () => {
  const fake = await startFakeAnthropic({ byTurn: askThenFinish });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, config);
    const spec = {
      question_timeout: '1s',
      max_concurrent_agents: 4,
      tasks: [
        agentTaskFile('goes-on'),
        agentTaskFile('parks', { on_question_timeout: 'park' }),
        agentTaskFile('after-park', { depends_on: 'parks' }),
        agentTaskFile('fails', { on_question_timeout: 'fail', question_timeout: '2s' }),
      ],
    };
    const result = await worker.runUntil(
      async () => (await startBatch(server.env, spec)).result() as Promise<BatchResult>,
    );
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    assert.equal(by['goes-on'].status, 'succeeded', by['goes-on'].error);
    assert.deepEqual(by['goes-on'].assumptions, [ASK.assumption]);
    const turn2 = fake.requests.find(
      (r) => r.turn === 2 && JSON.stringify(r.body.messages?.[0]).includes('task goes-on:'),
    )!;
    assert.match(
      lastToolResults(turn2),
      /Nobody answered within 1 s\. Go on with your stated assumption \(pattern B, the documented one\)/,
    );

    assert.equal(by.parks.status, 'waiting_for_answer');
    assert.match(
      by.parks.error ?? '',
      /parked: nobody answered "Which pagination pattern should I follow\?" within 1 s/,
    );
    assert.equal(by.parks.question?.question, ASK.question);
    assert.ok(by.parks.workDir && existsSync(by.parks.workDir), 'the parked work is kept');
    assert.equal(by['after-park'].status, 'skipped');
    assert.equal(by['after-park'].error, 'held: dependency parks is parked waiting for an answer');

    assert.equal(by.fails.status, 'failed');
    assert.match(by.fails.error ?? '', /within 2 s \(on_question_timeout: fail\)/);
    assert.equal(fake.requests.filter((r) => JSON.stringify(r.body.messages?.[0]).includes('task fails:')).length, 1);

    const report = readFileSync(
      path.join(config.root, result.report && 'markdown' in result.report ? result.report.markdown : 'missing'),
      'utf8',
    );
    assert.match(
      report,
      /## Assumptions to check\n\n- \*\*goes-on\*\* went on without an answer, assuming: pattern B, the documented one/,
    );
    assert.match(report, /\*\*parks\*\* \(task parks\): parked, waiting for an answer/);
  } finally {
    await fake.close();
  }
});

test(
  'SIGKILL the worker while a task waits; the answer sent with no worker running is delivered when one returns',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: askThenFinish });
    const hook = await startRecordingServer({ kind: 'webhook' });
    const root = testConfig(server.env).root;
    const vars = {
      NIGHTSHIFT_ROOT: root,
      TEMPORAL_ADDRESS: server.env.address,
      TEMPORAL_NAMESPACE: 'default',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: fake.url,
      NIGHTSHIFT_WEBHOOK_URL: hook.url,
    };
    const workers: WorkerProcess[] = [];
    try {
      workers.push(await spawnWorker(vars));
      const handle = await startAgentTask(
        server.env,
        agentInput(agentSpec({ id: 'ask-crash', model: 'haiku' }), { heartbeatTimeoutMs: 2000 }),
      );
      await hook.waitFor((r) => r.body.event === 'question');
      await workers[0].kill('SIGKILL');
      await handle.signal('answer', { text: 'answered while no worker ran' });
      workers.push(await spawnWorker(vars));
      const result = await taskResultOf(handle);
      assert.equal(result.status, 'succeeded', result.error);
      assert.deepEqual(
        [...fake.turnCounts().entries()],
        [
          [1, 1],
          [2, 1],
        ],
        'no turn asked twice',
      );
      assert.match(lastToolResults(fake.requests[1]), /Answer from a person: answered while no worker ran/);
    } finally {
      for (const w of workers) await w.kill('SIGKILL');
      await Promise.all([fake.close(), hook.close()]);
    }
  },
);

test(
  'a reply to the question on Telegram answers it: `nightshift telegram --once`, and the long-poll listener until SIGTERM',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: askThenFinish });
    const tg = await startRecordingServer({ kind: 'telegram' });
    try {
      const config = {
        ...withModel(testConfig(server.env), fake.url),
        notify: { telegramBotToken: 'bot-token', telegramChatId: '4242', telegramApiUrl: tg.url },
      };
      const worker = await testWorker(server.env, config);
      const vars = {
        ...process.env,
        TEMPORAL_ADDRESS: server.env.address,
        NIGHTSHIFT_ROOT: config.root,
        TELEGRAM_BOT_TOKEN: 'bot-token',
        TELEGRAM_CHAT_ID: '4242',
        NIGHTSHIFT_TELEGRAM_API_URL: tg.url,
      };
      const telegram = (...args: string[]) =>
        run(process.execPath, [nightshiftBin(), 'telegram', ...args], {
          cwd: config.root,
          encoding: 'utf8',
          env: vars,
        });
      const asked = (taskId: string) =>
        tg.waitFor((r) => r.path.endsWith('/sendMessage') && String(r.body.text).startsWith(`${taskId} asks:`));
      const finalRequest = (taskId: string) =>
        fake.requests.find((r) => r.turn === 2 && JSON.stringify(r.body.messages?.[0]).includes(`task ${taskId}:`));

      const [once, polled] = await worker.runUntil(async () => {
        // --once: one getUpdates, the reply is matched by the record the worker wrote when it sent the question.
        const first = await startAgentTask(server.env, agentInput(agentSpec({ id: 'tg-once', model: 'haiku' })));
        const question = await asked('tg-once');
        const open = (await first.query<TaskStatus>('status')).questions![0];
        tg.reply(question, 'Use pattern B, says Telegram');
        const lines = (await telegram('--once', '--json')).stdout.trim().split('\n');
        assert.equal(lines.length, 1, lines.join('\n'));
        assert.deepEqual(JSON.parse(lines[0]), {
          updateId: 5000,
          taskId: 'tg-once',
          workflowId: first.workflowId,
          questionId: open.questionId,
          text: 'Use pattern B, says Telegram',
          via: 'record',
        });
        const once = await taskResultOf(first);
        // The next run confirms the update (offset) and forwards nothing twice.
        assert.equal((await telegram('--once', '--json')).stdout.trim(), '');
        assert.deepEqual(tg.pendingUpdates(), []);

        // The listener long-polls; without the record (another machine's worker) the reply is matched by the message's answer command.
        const listener = spawn(process.execPath, [nightshiftBin(), 'telegram', '--json', '--poll-seconds', '2'], {
          cwd: config.root,
          env: vars,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        listener.stdout.on('data', (b: Buffer) => (out += b.toString()));
        listener.stderr.on('data', (b: Buffer) => (err += b.toString()));
        const exited = new Promise<number | null>((resolve) => listener.once('exit', (code) => resolve(code)));
        const second = await startAgentTask(server.env, agentInput(agentSpec({ id: 'tg-poll', model: 'haiku' })));
        const q2 = await asked('tg-poll');
        const records = path.join(config.root, '.nightshift', 'telegram', 'questions');
        await until(
          async () => readdirSync(records),
          (names) => names.length === 2,
        );
        rmSync(records, { recursive: true });
        tg.reply(q2, 'B again, from the listener');
        const polled = await taskResultOf(second);
        await until(
          async () => out,
          (o) => o.includes('tg-poll'),
        );
        listener.kill('SIGTERM');
        assert.equal(await exited, 0, err);
        assert.equal(JSON.parse(out.trim()).via, 'message');
        return [once, polled];
      });
      assert.equal(once.status, 'succeeded', once.error);
      assert.match(lastToolResults(finalRequest('tg-once')!), /Answer from a person: Use pattern B, says Telegram/);
      assert.equal(polled.status, 'succeeded', polled.error);
      assert.match(lastToolResults(finalRequest('tg-poll')!), /Answer from a person: B again, from the listener/);
      // Each answer was confirmed in the chat, as a reply to the person's message.
      const confirmations = tg.requests.filter((r) => String(r.body.text).startsWith('Answer sent to'));
      assert.deepEqual(
        confirmations.map((r) => String(r.body.text).split(' (')[0]),
        ['Answer sent to tg-once', 'Answer sent to tg-poll'],
      );
      assert.ok(confirmations.every((r) => typeof r.body.reply_to_message_id === 'number'));
      assert.equal(
        readFileSync(path.join(config.root, '.nightshift', 'telegram', 'offset'), 'utf8'),
        '5002',
        'the listener saved the offset past both replies',
      );
    } finally {
      await Promise.all([fake.close(), tg.close()]);
    }
  },
);
