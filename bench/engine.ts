/**
 * bench:engine: a 500-task DAG of instant command tasks at concurrency 50 on the dev
 * server, next to the same DAG run by a plain in-process Promise scheduler running the
 * same commands. Prints wall times, their ratio, per-task overhead (median, p95), the
 * worker's peak RSS, and the largest workflow history.
 *
 * For a night that continued as new it also prints how many runs it took, the largest run's
 * history, and what each run carried into the next (the continue-as-new input) per task.
 *
 *   npm run bench:engine [-- --tasks 500 --concurrency 50]
 */
import { spawn } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { readStoredTasks } from '../activities/night/results';
import { TASK_QUEUE } from '../contract';
import { openStateStore } from '../common/store';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../test/helpers/temporal';
import type { BatchResult } from '../contract';
import { readyTasks } from '../workflows/night/dag';
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
    if (i > 0 && rand() > 0.33)
      for (let k = 0; k < 1 + Math.floor(rand() * 2); k++) deps.add(`t${Math.floor(rand() * i)}`);
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

interface RunFacts {
  runId: string;
  events: number;
  bytes: number;
  /** Bytes of the continue-as-new input it handed the next run (0 for the last run). */
  carriedBytes: number;
  /** The largest payload of any of its events. */
  largestPayload: number;
}

/** Each run of the batch, first to last, following continue-as-new: its size and its largest payload. */
async function batchRuns(client: Client, workflowId: string, firstRunId: string): Promise<RunFacts[]> {
  const runs: RunFacts[] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    const d = await client.workflow.getHandle(workflowId, runId).describe();
    const facts: RunFacts = {
      runId,
      events: d.historyLength ?? 0,
      bytes: d.historySize ?? 0,
      carriedBytes: 0,
      largestPayload: 0,
    };
    let next: string | undefined;
    let nextPageToken: Uint8Array | undefined;
    do {
      // Small pages: a page of index parts would pass gRPC's 4 MB.
      const page: temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse =
        await client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId, runId },
          maximumPageSize: 100,
          nextPageToken,
        });
      for (const e of page.history?.events ?? []) {
        const payloads = payloadsOf(e);
        for (const p of payloads) facts.largestPayload = Math.max(facts.largestPayload, p.data?.length ?? 0);
        if (e.workflowExecutionContinuedAsNewEventAttributes) {
          facts.carriedBytes = payloads.reduce((n, p) => n + (p.data?.length ?? 0), 0);
          next = e.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? undefined;
        }
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    runs.push(facts);
    runId = next;
  }
  return runs;
}

/** The payloads an event carries (inputs, results, update arguments and answers). */
function payloadsOf(e: temporal.api.history.v1.IHistoryEvent): temporal.api.common.v1.IPayload[] {
  const lists = [
    e.workflowExecutionStartedEventAttributes?.input,
    e.workflowExecutionContinuedAsNewEventAttributes?.input,
    e.workflowExecutionCompletedEventAttributes?.result,
    e.activityTaskScheduledEventAttributes?.input,
    e.activityTaskCompletedEventAttributes?.result,
    e.startChildWorkflowExecutionInitiatedEventAttributes?.input,
    e.childWorkflowExecutionCompletedEventAttributes?.result,
    e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args,
    e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.success,
    e.workflowExecutionSignaledEventAttributes?.input,
  ];
  return lists.flatMap((l) => l?.payloads ?? []);
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

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
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ spec: { max_concurrent_agents: CONCURRENCY, tasks: dag } }],
    });
    const result: BatchResult = await worker.runUntil(handle.result());
    const temporalWallMs = performance.now() - t0;
    const workerRss = peakRssMiB();
    // A night that continued as new lists its results in the state store, not in its result.
    let tasks = result.tasks;
    if (tasks.length === 0 && result.stored) {
      const store = await openStateStore(config);
      try {
        tasks = await readStoredTasks(store, result.stored.spec, result.stored.results);
      } finally {
        await store.close();
      }
    }
    if (tasks.length !== TASKS) throw new Error(`the night reports ${tasks.length} tasks of ${TASKS}`);
    const failed = tasks.filter((t) => t.status !== 'succeeded');
    if (failed.length)
      throw new Error(`${failed.length} tasks did not succeed, e.g. ${failed[0].taskId}: ${failed[0].error}`);

    const batch = await env.client.workflow.getHandle(workflowId).describe();
    const runs = await batchRuns(env.client, workflowId, handle.firstExecutionRunId);
    const largestRun = runs.reduce((a, r) => (r.bytes > a.bytes ? r : a), runs[0]);
    const carried = runs.filter((r) => r.carriedBytes > 0);
    const maxCarried = Math.max(0, ...carried.map((r) => r.carriedBytes));
    let childMax = { events: 0, bytes: 0 };
    for (const t of tasks.slice(0, 20)) {
      const d = await env.client.workflow.getHandle(`${workflowId}/${t.taskId}`).describe();
      if ((d.historyLength ?? 0) > childMax.events)
        childMax = { events: d.historyLength ?? 0, bytes: d.historySize ?? 0 };
    }

    const base = await inProcess(dag);
    const overhead = tasks.map((t) => t.endedAt! - t.startedAt! - (base.perTask.get(t.taskId) ?? 0));
    const lines = [
      `bench:engine · ${new Date().toISOString().slice(0, 10)} · ${machine()}`,
      `${TASKS} tasks, concurrency ${CONCURRENCY}, command "${COMMAND}"${eager ? ', eager activity execution' : ''}`,
      `temporal wall        ${(temporalWallMs / 1000).toFixed(2)} s`,
      `in-process wall      ${(base.wallMs / 1000).toFixed(2)} s`,
      `ratio                ${(temporalWallMs / base.wallMs).toFixed(1)}×`,
      `per-task overhead    median ${median(overhead).toFixed(1)} ms · p95 ${percentile(overhead, 95).toFixed(1)} ms (child start→end minus the same command in-process)`,
      `worker peak RSS      ${workerRss.toFixed(0)} MiB (worker, client and bundler in one process)`,
      `batch history        ${batch.historyLength} events · ${kib(batch.historySize ?? 0)} (last run)`,
      `runs                 ${runs.length} (continued as new ${runs.length - 1} times); largest run ${largestRun.events} events · ${kib(largestRun.bytes)}`,
      `largest payload      ${kib(Math.max(...runs.map((r) => r.largestPayload)))} (any event of any run of the batch)`,
      ...(carried.length
        ? [
            `carried per run       largest ${maxCarried} bytes, ${(maxCarried / TASKS).toFixed(2)} bytes a task (continue-as-new input)`,
          ]
        : []),
      `results              ${tasks.length} in the ${result.tasks.length ? 'batch result' : 'state store'}; report ${result.report && 'json' in result.report ? result.report.json : JSON.stringify(result.report)}`,
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
