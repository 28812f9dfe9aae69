/**
 * Budgets on a real dev server: many tasks at once against a small batch cap never spend
 * past it (every response the fake model serves is billed) and pause; `nightshift budget
 * raise` resumes them. A task near its own cap gets one wrap-up turn, then pauses with its
 * work kept; a raise resumes it; one left paused is reported stopped by the budget. Two
 * batches of one day under a daily cap never spend past it together; `nightshift budget
 * raise-day` resumes both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  ledgerDate,
  ledgerWorkflowId,
  TASK_QUEUE,
  type BatchResult,
  type BatchStatus,
  type DailyLedgerStatus,
  type TaskStatus,
} from '../../contract';
import { WRAP_UP_NOTE } from '../../workflows/budget/task-side';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { startRecordingServer } from '../fakes/notify-servers';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { agentInput, agentSpec, startAgentTask, withModel, taskResultOf } from './helpers';
import { nightshiftBin } from '../helpers/bin';

const server = devServerForFile();
const run = promisify(execFile);
const T = { timeout: 240_000 };

/** Pinned to haiku 4.5 (not the alias, which moves): $1 in / $5 out per million, 20,000 in + 100 out = $0.0205 a response. */
const HAIKU_4_5 = 'claude-haiku-4-5';
const USAGE = { input_tokens: 20_000, output_tokens: 100 };
const PER_RESPONSE = 0.0205;
const TURNS = 5;

const scripted = (turn: number) =>
  turn < TURNS
    ? message([toolUse(`tu_${turn}`, 'write_file', { path: `turn-${turn}.txt`, content: `${turn}\n` })], {
        usage: USAGE,
      })
    : message([toolUse(`tu_fin_${turn}`, 'finish', { summary: 'done', verification: 'ls' })], { usage: USAGE });

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'six tasks against a $0.25 cap never spend past it and pause; `nightshift budget raise` resumes them',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: scripted });
    const hook = await startRecordingServer({ kind: 'webhook' });
    try {
      const config = withModel(testConfig(server.env), fake.url);
      const worker = await testWorker(server.env, config);
      const batchId = uniqueBatchId();
      const ids = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'];
      const spec = {
        max_cost_usd: 0.25,
        max_concurrent_agents: 6,
        notify: { webhook: { url: hook.url }, events: ['budget_warning', 'budget_exhausted', 'batch_finished'] },
        tasks: ids.map((id) => ({ id, description: `Do ${id}.`, agent_config: { model: HAIKU_4_5 } })),
      };
      const result = await worker.runUntil(async () => {
        const handle = await server.env.client.workflow.start('nightlyBatch', {
          taskQueue: TASK_QUEUE,
          workflowId: batchId,
          args: [{ spec }],
        });
        // Every task has either finished or paused: nothing more can be spent without a raise.
        const paused = await until<BatchStatus>(
          () => handle.query('status'),
          (s) =>
            s.tasks.every((t) => t.status === 'paused_budget' || t.status === 'succeeded') &&
            s.tasks.some((t) => t.status === 'paused_budget'),
        );
        const billed = fake.requests.length * PER_RESPONSE;
        assert.ok(billed <= 0.25 + 1e-9, `the model billed $${billed} against a $0.25 cap`);
        assert.ok(paused.budget!.spentUsd <= 0.25, `ledger spent ${paused.budget!.spentUsd}`);
        assert.ok(
          Math.abs(paused.budget!.spentUsd - billed) < 1e-6,
          `ledger ${paused.budget!.spentUsd} = billed ${billed}`,
        );
        assert.equal(paused.budget!.reservedUsd, 0, 'paused tasks hold nothing');
        await hook.waitFor((r) => r.body.event === 'budget_exhausted');

        const raised = JSON.parse(
          (
            await run(process.execPath, [nightshiftBin(), 'budget', 'raise', batchId, '1', '--json'], {
              encoding: 'utf8',
              env: { ...process.env, TEMPORAL_ADDRESS: server.env.address, NIGHTSHIFT_ROOT: config.root },
            })
          ).stdout,
        ) as { capUsd: number; resumed: string[] };
        assert.equal(raised.capUsd, 1.25);
        assert.deepEqual(
          raised.resumed.sort(),
          paused.tasks
            .filter((t) => t.status === 'paused_budget')
            .map((t) => t.taskId)
            .sort(),
        );
        return (await handle.result()) as BatchResult;
      });
      assert.deepEqual(
        result.tasks.map((t) => t.status),
        ids.map(() => 'succeeded'),
      );
      assert.equal(fake.requests.length, ids.length * TURNS);
      assert.ok(Math.abs(result.costUsd - ids.length * TURNS * PER_RESPONSE) < 1e-6, `cost ${result.costUsd}`);
      await hook.waitFor((r) => r.body.event === 'batch_finished');

      // Bad raises are refused with a clear message and exit code.
      await assert.rejects(
        run(process.execPath, [nightshiftBin(), 'budget', 'raise', batchId, '-3'], {
          encoding: 'utf8',
          env: { ...process.env, TEMPORAL_ADDRESS: server.env.address },
        }),
        (err: { code: number; stderr: string }) =>
          err.code === 2 && /not an amount of US dollars above 0/.test(err.stderr),
      );
    } finally {
      await Promise.all([fake.close(), hook.close()]);
    }
  },
);

test(
  'near its own cap a task gets a wrap-up turn, then pauses with its work kept; a raise resumes it, no raise stops it by budget',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: scripted });
    const hook = await startRecordingServer({ kind: 'webhook' });
    try {
      const config = {
        ...withModel(testConfig(server.env), fake.url),
        notify: { telegramApiUrl: 'http://127.0.0.1:9', webhookUrl: hook.url },
      };
      const worker = await testWorker(server.env, config);
      const raisedInput = agentInput(agentSpec({ id: 'capped', model: HAIKU_4_5, maxCostUsd: 0.075 }), {
        maxTokens: 100,
      });
      const stoppedInput = agentInput(
        agentSpec({ id: 'stopped', model: HAIKU_4_5, maxCostUsd: 0.075, timeoutMs: 8000 }),
        { maxTokens: 100 },
      );
      const [raised, stopped] = await worker.runUntil(async () => {
        const handle = await startAgentTask(server.env, raisedInput);
        const stoppedHandle = await startAgentTask(server.env, stoppedInput);
        const paused = await until<TaskStatus>(
          () => handle.query('status'),
          (s) => s.status === 'paused_budget',
        );
        assert.ok(paused.costUsd <= 0.075, `spent ${paused.costUsd} of a $0.075 cap`);
        assert.match(paused.activity ?? '', /left of its max_cost_usd/);
        await handle.signal('budgetRaised', { taskCapAddUsd: 1 });
        return [await taskResultOf(handle), await taskResultOf(stoppedHandle)];
      });
      assert.equal(raised.status, 'succeeded', raised.error);
      const forCapped = fake.requests.filter((r) => JSON.stringify(r.body.messages?.[0]).includes('task capped:'));
      assert.equal(
        forCapped.filter((r) => JSON.stringify(r.body.messages).includes(WRAP_UP_NOTE.slice(0, 60))).length > 0,
        true,
        'the wrap-up note reached the model',
      );
      assert.ok(raised.notes?.some((n) => /past 75% of its max_cost_usd/.test(n)));
      assert.ok(raised.notes?.some((n) => /asked to wrap up/.test(n)));

      assert.equal(stopped.status, 'paused_budget');
      assert.match(stopped.error ?? '', /^stopped by budget: .* the work so far is kept$/);
      assert.ok(stopped.costUsd <= 0.075);
      assert.ok(stopped.workDir, 'the work is kept');
      await hook.waitFor((r) => r.body.event === 'budget_exhausted' && r.body.taskId === 'stopped');
    } finally {
      await Promise.all([fake.close(), hook.close()]);
    }
  },
);

test(
  'two batches of one day under a $0.25 daily cap never spend past it together; `nightshift budget raise-day` resumes both',
  T,
  async () => {
    const fake = await startFakeAnthropic({ byTurn: scripted });
    const hook = await startRecordingServer({ kind: 'webhook' });
    try {
      const config = withModel(testConfig(server.env), fake.url);
      const worker = await testWorker(server.env, config);
      const cli = (...args: string[]) =>
        run(process.execPath, [nightshiftBin(), ...args], {
          encoding: 'utf8',
          env: { ...process.env, TEMPORAL_ADDRESS: server.env.address, NIGHTSHIFT_ROOT: config.root },
        });
      // Each batch could spend $1 on its own; the day allows $0.25 for both.
      const spec = (prefix: string) => ({
        max_cost_usd: 1,
        daily_max_cost_usd: 0.25,
        max_concurrent_agents: 3,
        notify: { webhook: { url: hook.url }, events: ['budget_warning', 'budget_exhausted'] },
        tasks: [1, 2, 3].map((i) => ({
          id: `${prefix}${i}`,
          description: `Do ${prefix}${i}.`,
          agent_config: { model: HAIKU_4_5 },
        })),
      });
      const date = ledgerDate(Date.now());
      const [first, second] = await worker.runUntil(async () => {
        const handles = await Promise.all(
          ['d', 'e'].map((p) =>
            server.env.client.workflow.start('nightlyBatch', {
              taskQueue: TASK_QUEUE,
              workflowId: uniqueBatchId(),
              args: [{ spec: spec(p) }],
            }),
          ),
        );
        const stalled = (s: BatchStatus) =>
          s.tasks.every((t) => t.status === 'paused_budget' || t.status === 'succeeded');
        const statuses = await until<BatchStatus[]>(
          () => Promise.all(handles.map((h) => h.query<BatchStatus>('status'))),
          (ss) => ss.every(stalled) && ss.some((s) => s.tasks.some((t) => t.status === 'paused_budget')),
        );
        const billed = fake.requests.length * PER_RESPONSE;
        assert.ok(billed <= 0.25 + 1e-9, `the model billed $${billed} against a $0.25 daily cap`);
        assert.ok(fake.requests.length >= 5, 'both batches ran until the day was spent');
        const day = JSON.parse((await cli('budget', 'day', '--json')).stdout) as DailyLedgerStatus;
        assert.equal(day.date, date);
        assert.ok(
          Math.abs(day.spentUsd - billed) < 1e-6,
          `the day's ledger booked ${day.spentUsd}, the model billed ${billed}`,
        );
        assert.equal(day.reservedUsd, 0, 'paused tasks hold nothing');
        assert.equal(day.capUsd, 0.25);
        const paused = statuses.flatMap((s) =>
          s.tasks.filter((t) => t.status === 'paused_budget').map((t) => t.workflowId),
        );
        assert.deepEqual([...day.paused].sort(), paused.sort());
        for (const s of statuses)
          assert.equal(
            s.budget!.reservedUsd,
            0,
            `${s.batchId}: a task paused by the day holds nothing of the batch either`,
          );
        const exhausted = await hook.waitFor((r) => r.body.event === 'budget_exhausted');
        assert.match(
          String(exhausted.body.text),
          new RegExp(
            `daily budget of ${date} \\(UTC, \\$0\\.2500 across the day's batches\\)[\\s\\S]*nightshift budget raise-day <usd> --date ${date}`,
          ),
        );

        const raised = JSON.parse((await cli('budget', 'raise-day', '1', '--json')).stdout) as {
          date: string;
          capUsd: number;
          resumed: string[];
        };
        assert.equal(raised.capUsd, 1.25);
        assert.deepEqual(raised.resumed.sort(), paused.sort());
        const results = await Promise.all(handles.map(async (h) => (await h.result()) as BatchResult));
        // Every task settled with the day when it ended (the batches wait for that before they end).
        const settled = await until<DailyLedgerStatus>(
          () => server.env.client.workflow.getHandle(ledgerWorkflowId(date)).query('status'),
          (l) => l.reservedUsd === 0,
        );
        assert.ok(Math.abs(settled.spentUsd - 6 * TURNS * PER_RESPONSE) < 1e-6, `the day booked ${settled.spentUsd}`);
        return results;
      });
      for (const r of [first, second])
        assert.deepEqual(
          r.tasks.map((t) => t.status),
          ['succeeded', 'succeeded', 'succeeded'],
          JSON.stringify(r.tasks.map((t) => t.error)),
        );
      assert.equal(fake.requests.length, 6 * TURNS);
      await assert.rejects(
        cli('budget', 'raise-day', '5', '--date', '1999-01-01'),
        (err: { code: number; stderr: string }) => err.code === 5 && /no daily ledger for 1999-01-01/.test(err.stderr),
      );
    } finally {
      await Promise.all([fake.close(), hook.close()]);
    }
  },
);
