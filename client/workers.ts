/**
 * Whether a worker is there to answer. A query needs a worker; without one the server
 * holds it until its own timeout (about 35 s) and the CLI printed a stack trace. The task
 * queue's pollers say at once whether anyone is listening.
 */
import { isGrpcDeadlineError, type Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { CAPABILITIES, CAPABILITY_NEEDS, CAPABILITY_WORK, capabilityQueue } from '../common/task-queues';
import { TASK_QUEUE } from '../contract';
import { CliError, EXIT } from './errors';

/**
 * A worker's long poll is renewed about once a minute, and the server lists a poller for
 * minutes after its last poll: one seen longer ago than this has stopped.
 */
const POLLER_FRESH_MS = 90_000;

/** A query that has not been answered by then has no worker behind it. */
const QUERY_DEADLINE_MS = 10_000;

/** temporal.api.enums.v1 values (the client does not re-export the enums). */
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;

export function noWorkerMessage(taskQueue = TASK_QUEUE): string {
  return `no worker is polling task queue ${taskQueue}; start one with \`npm run worker\``;
}

const millis = (t: temporal.api.taskqueue.v1.IPollerInfo['lastAccessTime']) =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;

/** Workers that polled the task queue's workflow tasks lately. */
export async function pollingWorkers(client: Client, taskQueue = TASK_QUEUE, now = Date.now()): Promise<string[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
  });
  return freshPollers(r.pollers, now);
}

function freshPollers(pollers: temporal.api.taskqueue.v1.IPollerInfo[] | null | undefined, now: number): string[] {
  return (pollers ?? [])
    .filter((p) => now - (millis(p.lastAccessTime) ?? now) < POLLER_FRESH_MS)
    .map((p) => p.identity ?? '?');
}

/**
 * Why work of the workflows on `workflowQueue` waits: for each capability queue
 * (common/task-queues.ts) with tasks waiting and no worker polling it, one line saying what
 * a worker needs to take them. Empty when nothing waits for want of a worker.
 */
export async function capabilityWaits(client: Client, workflowQueue = TASK_QUEUE, now = Date.now()): Promise<string[]> {
  const lines = await Promise.all(
    CAPABILITIES.map(async (capability) => {
      const queue = capabilityQueue(workflowQueue, capability);
      const r = await client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: queue, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
      });
      const waiting = Number(r.stats?.approximateBacklogCount ?? 0);
      if (waiting === 0 || freshPollers(r.pollers, now).length > 0) return [];
      const [one, many] = CAPABILITY_WORK[capability];
      return [
        `${waiting} ${waiting === 1 ? `${one} waits` : `${many} wait`}: no worker polls task queue ${queue}; start one with ${CAPABILITY_NEEDS[capability]}`,
      ];
    }),
  );
  return lines.flat();
}

/**
 * Waits until a worker polls the task queue: a worker this process just started polls
 * within a moment, but not before its first poll reaches the server (with Worker
 * Versioning, after it has registered its version).
 */
export async function untilPolled(client: Client, taskQueue: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await pollingWorkers(client, taskQueue)).length === 0) {
    if (Date.now() > deadline)
      throw new CliError(
        `the worker started here did not poll task queue ${taskQueue} within ${timeoutMs / 1000} s`,
        EXIT.unavailable,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Fails with the no-worker message (exit 4) when nothing polls the task queue. */
export async function requireWorker(client: Client, taskQueue = TASK_QUEUE): Promise<void> {
  if ((await pollingWorkers(client, taskQueue)).length === 0)
    throw new CliError(noWorkerMessage(taskQueue), EXIT.unavailable);
}

/** Runs a query, or fails within seconds with the no-worker message when no worker can answer it. */
export async function queryWithWorker<R>(client: Client, query: () => Promise<R>, taskQueue = TASK_QUEUE): Promise<R> {
  await requireWorker(client, taskQueue);
  try {
    return await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, query);
  } catch (err) {
    // The worker listed a moment ago went away, or is too busy to answer.
    if (isGrpcDeadlineError(err))
      throw new CliError(
        `no worker answered within ${QUERY_DEADLINE_MS / 1000} s; ${noWorkerMessage(taskQueue)}`,
        EXIT.unavailable,
      );
    throw err;
  }
}
