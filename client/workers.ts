/**
 * Whether a worker is there to answer. A query needs a worker; without one the server
 * holds it until its own timeout (about 35 s) and the CLI printed a stack trace. The task
 * queue's pollers say at once whether anyone is listening.
 */
import { isGrpcDeadlineError, type Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { TASK_QUEUE } from '../common/config';
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

export function noWorkerMessage(taskQueue = TASK_QUEUE): string {
  return `no worker is polling task queue ${taskQueue}; start one with \`npm run worker\``;
}

const millis = (t: temporal.api.taskqueue.v1.IPollerInfo['lastAccessTime']) => (t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined);

/** Workers that polled the task queue's workflow tasks lately. */
export async function pollingWorkers(client: Client, taskQueue = TASK_QUEUE, now = Date.now()): Promise<string[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (r.pollers ?? []).filter((p) => now - (millis(p.lastAccessTime) ?? now) < POLLER_FRESH_MS).map((p) => p.identity ?? '?');
}

/** Fails with the no-worker message (exit 4) when nothing polls the task queue. */
export async function requireWorker(client: Client, taskQueue = TASK_QUEUE): Promise<void> {
  if ((await pollingWorkers(client, taskQueue)).length === 0) throw new CliError(noWorkerMessage(taskQueue), EXIT.unavailable);
}

/** Runs a query, or fails within seconds with the no-worker message when no worker can answer it. */
export async function queryWithWorker<R>(client: Client, query: () => Promise<R>, taskQueue = TASK_QUEUE): Promise<R> {
  await requireWorker(client, taskQueue);
  try {
    return await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, query);
  } catch (err) {
    // The worker listed a moment ago went away, or is too busy to answer.
    if (isGrpcDeadlineError(err)) throw new CliError(`no worker answered within ${QUERY_DEADLINE_MS / 1000} s; ${noWorkerMessage(taskQueue)}`, EXIT.unavailable);
    throw err;
  }
}
