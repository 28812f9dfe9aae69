/**
 * bench:engine: a 500-task DAG of instant command tasks at concurrency 50 on the dev
 * server, next to the same DAG run by a plain in-process Promise scheduler running the
 * same commands. Prints wall times, their ratio, per-task overhead (median, p95), the
 * worker's peak RSS, and the largest workflow history.
 *
 *   npm run bench:engine [-- --tasks 500 --concurrency 50]
 */
import { spawn } from 'node:child_process';
import { TASK_QUEUE } from '../common/config';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../test/helpers/temporal';
import type { BatchResult } from '../workflows/contract';
import { readyTasks } from '../workflows/dag';
import { machine, median, peakRssMiB, percentile, rng } from './stats';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TASKS = arg('tasks', 500);
const CONCURRENCY = arg('concurrency', 50);
const COMMAND = 'true';

/** Each task depends on up to two random earlier tasks, about a third on none. */
function makeDag(n: number) {
  const rand = rng(42);
  return Array.from({ length: n }, (_, i) => {
    const deps = new Set<string>();
    if (i > 0 && rand() > 0.33) for (let k = 0; k < 1 + Math.floor(rand() * 2); k++) deps.add(`t${Math.floor(rand() * i)}`);
    return { id: `t${i}`, depends_on: [...deps], command: COMMAND };
  });
}

function runCommand(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('bash', ['-c', COMMAND], { stdio: 'ignore' });
    c.once('error', reject);
    c.once('close', () => resolve());
  });
}

/** The baseline: the same DAG and commands, scheduled by promises in this process. */
async function inProcess(dag: ReturnType<typeof makeDag>): Promise<{ wallMs: number; perTask: Map<string, number> }> {
  const tasks = dag.map((t) => ({ id: t.id, dependsOn: t.depends_on, priority: 5 }));
  const done = new Set<string>();
  const started = new Set<string>();
  const perTask = new Map<string, number>();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let running = 0;
    const pump = () => {
      if (done.size === tasks.length) return resolve();
      for (const id of readyTasks(tasks, done, started)) {
        if (running >= CONCURRENCY) break;
        started.add(id);
        running++;
        const s = performance.now();
        void runCommand().then(() => {
          perTask.set(id, performance.now() - s);
          running--;
          done.add(id);
          pump();
        });
      }
    };
    pump();
  });
  return { wallMs: performance.now() - t0, perTask };
}

async function main() {
  const dag = makeDag(TASKS);
  const eager = process.argv.includes('--eager');
  // Eager activity execution hands an activity to the worker in the same round trip as the workflow task that scheduled it.
  const env = await startDevServer(eager ? ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'] : []);
  try {
    const config = testConfig(env);
    const worker = await testWorker(env, config, { workerOptions: { maxConcurrentWorkflowTaskExecutions: 100 } });
    const workflowId = uniqueBatchId('bench-engine');
    const t0 = performance.now();
    const result: BatchResult = await worker.runUntil(
      env.client.workflow.execute('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId, args: [{ spec: { max_concurrent_agents: CONCURRENCY, tasks: dag } }] }),
    );
    const temporalWallMs = performance.now() - t0;
    const workerRss = peakRssMiB();
    const failed = result.tasks.filter((t) => t.status !== 'succeeded');
    if (failed.length) throw new Error(`${failed.length} tasks did not succeed, e.g. ${failed[0].taskId}: ${failed[0].error}`);

    const batch = await env.client.workflow.getHandle(workflowId).describe();
    let childMax = { events: 0, bytes: 0 };
    for (const t of result.tasks.slice(0, 20)) {
      const d = await env.client.workflow.getHandle(`${workflowId}/${t.taskId}`).describe();
      if ((d.historyLength ?? 0) > childMax.events) childMax = { events: d.historyLength ?? 0, bytes: d.historySize ?? 0 };
    }

    const base = await inProcess(dag);
    const overhead = result.tasks.map((t) => t.endedAt! - t.startedAt! - (base.perTask.get(t.taskId) ?? 0));
    const lines = [
      `bench:engine · ${new Date().toISOString().slice(0, 10)} · ${machine()}`,
      `${TASKS} tasks, concurrency ${CONCURRENCY}, command "${COMMAND}"${eager ? ', eager activity execution' : ''}`,
      `temporal wall        ${(temporalWallMs / 1000).toFixed(2)} s`,
      `in-process wall      ${(base.wallMs / 1000).toFixed(2)} s`,
      `ratio                ${(temporalWallMs / base.wallMs).toFixed(1)}×`,
      `per-task overhead    median ${median(overhead).toFixed(1)} ms · p95 ${percentile(overhead, 95).toFixed(1)} ms (child start→end minus the same command in-process)`,
      `worker peak RSS      ${workerRss.toFixed(0)} MiB (worker, client and bundler in one process)`,
      `batch history        ${batch.historyLength} events · ${((batch.historySize ?? 0) / 1024).toFixed(0)} KiB`,
      `largest task history ${childMax.events} events · ${(childMax.bytes / 1024).toFixed(1)} KiB (of the first 20)`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
