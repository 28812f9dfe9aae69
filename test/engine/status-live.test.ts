/**
 * `nightshift status` (and `--watch`) while an agent task runs: its tokens, cost, turns and
 * what it is doing come from the task's own query turn by turn, not only when it ends, and
 * an open question shows with the command that answers it. Real dev server, a worker, the
 * real SDK against the fake Messages API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult, BatchStatus } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { withModel } from '../agent/helpers';
import { withLiveSpend } from '../../client/batches';
import { nightshiftBin } from '../helpers/bin';

const server = devServerForFile();
const run = promisify(execFile);
const BIN = nightshiftBin();

const QUESTION = 'Which pagination pattern should I follow?';

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test(
  'status shows a running task live: tokens, cost, its activity and its open question; --watch follows to the end',
  { timeout: 240_000 },
  async () => {
    let releaseTurn2!: () => void;
    const turn2 = new Promise<void>((r) => (releaseTurn2 = r));
    const fake = await startFakeAnthropic({
      byTurn: async (turn) => {
        if (turn === 1)
          return message(
            [
              text('I need a decision.'),
              toolUse('tu_ask', 'ask_human', { question: QUESTION, assumption: 'the documented one' }),
            ],
            { usage: { input_tokens: 60_000, output_tokens: 48_000 } },
          );
        // Held until the test has looked at the task mid-call.
        await turn2;
        return message([toolUse('tu_fin', 'finish', { summary: 'paginated', verification: 'ran the tests' })]);
      },
    });
    try {
      const config = withModel(testConfig(server.env), fake.url);
      const worker = await testWorker(server.env, config);
      const batchId = uniqueBatchId();
      const env = { ...process.env, TEMPORAL_ADDRESS: server.env.address, NIGHTSHIFT_ROOT: config.root };
      const nightshift = (...args: string[]) =>
        run(process.execPath, [BIN, ...args], { cwd: config.root, encoding: 'utf8', env });
      const statusJson = async () => JSON.parse((await nightshift('status', batchId, '--json')).stdout) as BatchStatus;

      // The night and the watch start before any worker polls: the watch waits for one
      // instead of exiting with the no-worker message.
      const handle = await server.env.client.workflow.start('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: batchId,
        args: [
          {
            spec: {
              tasks: [{ id: 'live', title: 'live task', description: 'Paginate.', agent_config: { model: 'haiku' } }],
            },
          },
        ],
      });
      const watch = spawn(process.execPath, [BIN, 'status', batchId, '--watch'], { cwd: config.root, env });
      let watched = '';
      let watchErr = '';
      watch.stdout.on('data', (d: Buffer) => (watched += d.toString()));
      watch.stderr.on('data', (d: Buffer) => (watchErr += d.toString()));
      let exitedEarly: number | null | undefined;
      const watchEnded = new Promise<number | null>((r) =>
        watch.once('exit', (code) => {
          exitedEarly ??= code;
          r(code);
        }),
      );
      const deadline = Date.now() + 60_000;
      while (!watchErr.includes('--watch keeps trying') && exitedEarly === undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(exitedEarly, undefined, `status --watch exited with no worker polling:\n${watchErr}`);
      assert.match(watchErr, /no worker[\s\S]*--watch keeps trying/);

      const result = await worker.runUntil(async () => {
        // Waiting for the answer: turn 1's tokens and cost are there, and the question with its answer command.
        const asking = await until(statusJson, (s) => s.tasks[0]?.questions?.length === 1, 'the open question');
        const t = asking.tasks[0];
        assert.equal(t.status, 'waiting_for_answer');
        assert.deepEqual([t.tokens.input, t.tokens.output], [60_000, 48_000]);
        // haiku: 60k in x $0.10 + 48k out x $0.50 per million.
        assert.equal(t.costUsd, 0.03);
        assert.match(t.activity ?? '', /waiting for an answer to "Which pagination pattern/);
        // The header's total counts the running task's own spend, which the batch's ledger learns only at the next turn.
        assert.equal(asking.budget?.spentUsd, 0.03);
        const textual = (await nightshift('status', batchId)).stdout;
        assert.match(textual, new RegExp(`^${batchId} · running.* · \\$0\\.03 of \\$`, 'm'));
        assert.match(textual, /^live\s+waiting_for_answer\s+\$0\.03\s+108000\s/m);
        assert.match(textual, /^now:\n {2}live: turn 1: waiting for an answer/m);
        assert.match(
          textual,
          new RegExp(
            `^waiting for an answer:\\n {2}live \\(asked [^)]+ ago\\): ${QUESTION.replace('?', '\\?')}\\n {4}answer: .*\\banswer live "…" --batch ${batchId}$`,
            'm',
          ),
        );

        await nightshift('answer', 'live', 'pattern B', '--batch', batchId);
        // Mid-call on turn 2: turn 1 is counted, the question is gone, the activity says what runs.
        const calling = await until(statusJson, (s) => /^turn 2/.test(s.tasks[0]?.activity ?? ''), 'turn 2');
        assert.equal(calling.tasks[0].turns, 1);
        assert.equal(calling.tasks[0].questions?.length ?? 0, 0);
        assert.equal(calling.tasks[0].status, 'running');
        releaseTurn2();

        const r = (await handle.result()) as BatchResult;
        assert.equal(await watchEnded, 0, `status --watch ends with the batch:\n${watched}`);
        // --watch printed the live frames, not only the last one.
        assert.match(watched, /^live\s+waiting_for_answer\s+\$0\.03\s+108000\s/m);
        assert.match(watched, /waiting for an answer:\n {2}live \(asked/);
        assert.match(watched, new RegExp(`${batchId} · completed`));
        return r;
      });
      assert.equal(result.tasks[0].status, 'succeeded');
    } finally {
      releaseTurn2();
      await fake.close();
    }
  },
);

test("the header total: the larger of the ledger and the tasks' own figures, the reserve shrunk by what was added", () => {
  assert.deepEqual(
    withLiveSpend({ capUsd: 10, spentUsd: 0.01, reservedUsd: 0.5 }, [{ costUsd: 0.03 }, { costUsd: 0.02 }]),
    { capUsd: 10, spentUsd: 0.05, reservedUsd: 0.46 },
  );
  // A task whose query went unanswered shows 0: the ledger's larger figure stands.
  const ledger = { capUsd: 10, spentUsd: 0.2, reservedUsd: 0.1 };
  assert.equal(withLiveSpend(ledger, [{ costUsd: 0.05 }, { costUsd: 0 }]), ledger);
});
