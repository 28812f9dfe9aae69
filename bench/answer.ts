/**
 * bench:answer: how soon an answered question resumes the agent. Agent tasks on the dev
 * server ask one question (ask_human) of a zero-latency scripted model on loopback (real
 * SDK) and wait; the benchmark sends the `answer` signal and measures from just before the
 * signal call to the resumed model request arriving at the model server (median, p95).
 * Two routes: the signal on the task, and on the batch naming the task (routed by the
 * batch to the task).
 *
 *   npm run bench:answer [-- --samples 20 --eager]
 *
 * Each sample waits until the task is idle in its wait (its status says waiting, then a
 * short pause), so the figure is a waiting task being woken, not one still busy asking.
 */
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { TASK_QUEUE } from '../contract';
import type { MessagesRequest } from '../demo/messages-server';
import { shutdownIsolation } from '../sandbox/os-isolation';
import type { BatchStatus, TaskResult, TaskStatus } from '../contract';
import { agentInput, agentSpec, startAgentTask, withModel } from '../test/agent/helpers';
import { message, startFakeAnthropic, text, toolUse, type FakeAnthropic } from '../test/fakes/anthropic-server';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../test/helpers/temporal';
import { machine, median, percentile } from './stats';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SAMPLES = arg('samples', 20);
const SETTLE_MS = 300;

const ASK = { question: 'Which pattern?', context: 'Two patterns exist.', options: ['A', 'B'], assumption: 'B' };

function scripted(turn: number) {
  if (turn === 1) return message([text('A decision is needed.'), toolUse('tu_ask', 'ask_human', ASK)]);
  return message([toolUse(`tu_fin_${turn}`, 'finish', { summary: 'done', verification: 'none' })]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    await sleep(10);
  }
}

/** When the model server received the resumed (turn 2) request of task `taskId`. */
async function resumedAt(fake: FakeAnthropic, taskId: string): Promise<number> {
  const of = (r: MessagesRequest) => r.turn === 2 && JSON.stringify(r.body.messages?.[0]).includes(`task ${taskId}:`);
  return (await until(
    async () => fake.requests.find(of),
    (r) => r !== undefined,
  ))!.at;
}

async function viaTask(env: TestWorkflowEnvironment, fake: FakeAnthropic, i: number): Promise<number> {
  const id = `answer-task-${i}`;
  const handle = await startAgentTask(env, agentInput(agentSpec({ id, model: 'haiku' })));
  await until<TaskStatus>(
    () => handle.query('status'),
    (s) => s.status === 'waiting_for_answer',
  );
  await sleep(SETTLE_MS);
  const t0 = Date.now();
  await handle.signal('answer', { text: 'B' });
  const latency = (await resumedAt(fake, id)) - t0;
  const r = (await handle.result()) as TaskResult;
  if (r.status !== 'succeeded') throw new Error(`${id} ${r.status}: ${r.error}`);
  return latency;
}

async function viaBatch(env: TestWorkflowEnvironment, fake: FakeAnthropic, n: number): Promise<number[]> {
  const ids = Array.from({ length: n }, (_, i) => `answer-batch-${i}`);
  const spec = {
    max_concurrent_agents: 1,
    tasks: ids.map((id) => ({ id, title: id, description: `Do ${id}.`, agent_config: { model: 'haiku' } })),
  };
  const handle = await env.client.workflow.start('nightlyBatch', {
    taskQueue: TASK_QUEUE,
    workflowId: uniqueBatchId('bench-answer'),
    args: [{ spec }],
  });
  const out: number[] = [];
  for (const id of ids) {
    await until<BatchStatus>(
      () => handle.query('status'),
      (s) => (s.questions ?? []).some((q) => q.taskId === id),
    );
    await sleep(SETTLE_MS);
    const t0 = Date.now();
    await handle.signal('answer', { taskId: id, text: 'B' });
    out.push((await resumedAt(fake, id)) - t0);
  }
  await handle.result();
  return out;
}

async function main() {
  const eager = process.argv.includes('--eager');
  const env = await startDevServer(eager ? ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'] : []);
  const fake = await startFakeAnthropic({ byTurn: scripted });
  try {
    const config = testConfig(env, mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-answer-')));
    const worker = await testWorker(env, withModel(config, fake.url));
    const { task, batch } = await worker.runUntil(async () => {
      await viaTask(env, fake, -1); // warm-up: bundle, sandbox runtime, connections
      const task: number[] = [];
      for (let i = 0; i < SAMPLES; i++) task.push(await viaTask(env, fake, i));
      return { task, batch: await viaBatch(env, fake, SAMPLES) };
    });
    const line = (name: string, v: number[]) =>
      `${name.padEnd(22)} median ${median(v).toFixed(0)} ms · p95 ${percentile(v, 95).toFixed(0)} ms · max ${Math.max(...v).toFixed(0)} ms (n = ${v.length})`;
    console.log(
      [
        `bench:answer · ${new Date().toISOString().slice(0, 10)} · ${machine()}`,
        `answer signal -> resumed model request, zero-latency scripted model on loopback, local sandbox${eager ? ', eager activity execution' : ''}`,
        line('signal on the task', task),
        line('signal on the batch', batch),
      ].join('\n'),
    );
  } finally {
    await fake.close();
    await env.teardown();
    await shutdownIsolation();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
