/**
 * Money under crashes (issue 13): four agent tasks at once under a small batch cap, a task
 * cap and a daily cap, every answer as large as max_tokens and streamed slowly, while two
 * the worker process is SIGKILLed at random moments during model calls and restarted. The
 * fake bills as the API does (every accepted request, whole answer, even when the worker
 * died mid-stream). What it billed stays under every cap, and the morning report's spend
 * equals the bill within the bookings it lists for interrupted calls. One worker process
 * runs at a time, so a kill while an answer streams cuts that model call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult, BatchStatus, InterruptedCall } from '../../contract';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { rng } from '../../bench/stats';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const server = devServerForFile();

const TASK_CAP = 0.2;
const BATCH_CAP = 0.6;
const DAY_CAP = 0.7;
/** The agent loop's default max_tokens, which every answer uses up. */
const MAX_TOKENS = 8192;
const KILLS = 3;
const TASKS = ['t1', 't2', 't3', 't4'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(
  'SIGKILLed workers during model calls: billed spend stays under the task, batch and day caps, and the report accounts for it',
  { timeout: 600_000 },
  async () => {
    const seed = Number(process.env.BILLING_FAULTS_SEED ?? Date.now() % 100_000);
    const rand = rng(seed);
    const taskOfRequest: string[] = [];
    // Never finishes: each task writes a file a turn until a cap pauses it, so spending is bounded by the caps alone.
    const fake = await startFakeAnthropic({
      streamDelayMs: 350,
      byTurn: (turn, req) => {
        taskOfRequest.push(/TASK-(t\d)/.exec(JSON.stringify(req.body))?.[1] ?? '?');
        return message([toolUse(`tu_${turn}`, 'write_file', { path: `turn-${turn}.txt`, content: `${turn}\n` })], {
          model: 'claude-haiku-4-5-20251001',
          usage: { input_tokens: 3000, output_tokens: MAX_TOKENS },
        });
      },
    });
    const root = testConfig(server.env).root;
    const vars = {
      NIGHTSHIFT_ROOT: root,
      TEMPORAL_ADDRESS: server.env.address,
      TEMPORAL_NAMESPACE: 'default',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: fake.url,
    };
    const workers: WorkerProcess[] = [];
    try {
      workers.push(await spawnWorker(vars));
      const batchId = uniqueBatchId('billing-faults');
      const spec = {
        max_cost_usd: BATCH_CAP,
        daily_max_cost_usd: DAY_CAP,
        max_concurrent_agents: TASKS.length,
        tasks: TASKS.map((id) => ({
          id,
          description: `TASK-${id}: write one file per turn.`,
          timeout: '90s',
          agent_config: { model: 'claude-haiku-4-5', max_cost_usd: TASK_CAP, max_turns: 30 },
        })),
      };
      const handle = await server.env.client.workflow.start('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: batchId,
        args: [{ spec }],
      });

      // Kills land while answers stream, once every task is past creating its sandbox (whose
      // stall after a worker death is a separate issue, not this test's subject).
      const settled = async () => {
        const s = (await handle.query('status').catch(() => undefined)) as BatchStatus | undefined;
        return !!s && s.tasks.length > 0 && s.tasks.every((t) => t.status !== 'pending' && t.status !== 'running');
      };
      let kills = 0;
      let killsMidStream = 0;
      while (kills < KILLS && !(await settled())) {
        if (fake.inFlight() === 0 || new Set(taskOfRequest).size < TASKS.length) {
          await sleep(50);
          continue;
        }
        // Up to about two answers' streaming time: some kills cut answers, some land between them.
        await sleep(Math.floor(rand() * 5000));
        if (fake.inFlight() > 0) killsMidStream++;
        await workers[workers.length - 1].kill('SIGKILL');
        kills++;
        workers.push(await spawnWorker(vars));
        await sleep(1000 + Math.floor(rand() * 1500));
      }

      const result = (await handle.result()) as BatchResult;
      const files = result.report;
      assert.ok(files && 'json' in files, `the batch wrote its report: ${JSON.stringify(files)}`);
      const bill = fake.billing();
      const billedBy = new Map<string, number>();
      bill.billed.forEach((b, i) => billedBy.set(taskOfRequest[i], (billedBy.get(taskOfRequest[i]) ?? 0) + b.costUsd));
      const report = JSON.parse(readFileSync(path.join(root, files.json), 'utf8')) as {
        costUsd: number;
        results: { task: string; costUsd: number; interruptedCalls?: InterruptedCall[] }[];
      };
      const interrupted = report.results.flatMap((r) => r.interruptedCalls ?? []);
      const bookedForInterrupted = interrupted.reduce((a, c) => a + c.bookedUsd, 0);
      const figures = `seed ${seed}: ${kills} kills (${killsMidStream} mid-stream), ${bill.requests} requests billed $${bill.costUsd.toFixed(4)}; caps task $${TASK_CAP}, batch $${BATCH_CAP}, day $${DAY_CAP}; per task ${[...billedBy].map(([t, v]) => `${t} $${v.toFixed(4)}`).join(', ')}; report $${report.costUsd.toFixed(4)} with ${interrupted.length} interrupted calls booked at $${bookedForInterrupted.toFixed(4)} (${interrupted.map((c) => c.basis).join(', ')})`;
      console.log(`billing-faults: ${figures}`);
      if (process.env.BILLING_FAULTS_DEBUG) {
        console.log(
          JSON.stringify(
            result.tasks.map((t) => ({
              id: t.taskId,
              status: t.status,
              turns: t.turns,
              cost: t.costUsd,
              error: t.error,
              interrupted: t.interruptedCalls,
            })),
            null,
            1,
          ),
        );
      }

      // The budget may run out before the last kill; two kills, one of them mid-answer, is the least that tests anything.
      assert.ok(kills >= KILLS - 1, `only ${kills} kills: ${figures}`);
      assert.ok(killsMidStream >= 1 && interrupted.length >= 1, `no kill cut a model call: ${figures}`);
      assert.equal(fake.exhausted, undefined);
      assert.ok(!taskOfRequest.includes('?'), 'every request named its task');
      assert.ok(bill.costUsd <= BATCH_CAP + 1e-9, `billed past the batch cap: ${figures}`);
      assert.ok(bill.costUsd <= DAY_CAP + 1e-9, `billed past the daily cap: ${figures}`);
      for (const [t, v] of billedBy) assert.ok(v <= TASK_CAP + 1e-9, `${t} billed $${v} past its task cap: ${figures}`);
      // Caps that bind: the night ran until the budget stopped it, not until it ran out of work.
      assert.ok(bill.costUsd > BATCH_CAP - 0.1, `the batch cap was approached: ${figures}`);
      assert.ok(
        result.tasks.every((t) => t.status === 'paused_budget' || t.status === 'incomplete'),
        result.tasks.map((t) => `${t.taskId} ${t.status} ${t.error}`).join('\n'),
      );
      // The report never counts less than was billed, and counts more only by what it booked for calls it could not see end.
      assert.ok(report.costUsd >= bill.costUsd - 1e-6, `the report says less than was billed: ${figures}`);
      assert.ok(
        report.costUsd <= bill.costUsd + bookedForInterrupted + 1e-6,
        `the report's excess over the bill is not explained by its interrupted calls: ${figures}`,
      );
      for (const r of report.results)
        assert.ok(
          r.costUsd >= (billedBy.get(r.task) ?? 0) - 1e-6,
          `${r.task}: reported $${r.costUsd}, billed $${billedBy.get(r.task)}`,
        );
      const markdown = readFileSync(path.join(root, files.markdown), 'utf8');
      if (interrupted.length) assert.match(markdown, /interrupted model call: turn \d+, attempt \d+, booked \$/);
    } finally {
      for (const w of workers) await w.kill('SIGKILL');
      await fake.close();
    }
  },
);
