/** Finding and reading batches through the Temporal client. */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { loadConfig, type NightshiftConfig } from '../common/config';
import { fromNanoUsd, toNanoUsd } from '../common/money';
import {
  BATCH_WORKFLOW,
  batchStatusQuery,
  FINAL_STATES,
  taskStatusQuery,
  type BatchResult,
  type BatchStatus,
  type TaskStatus,
} from '../contract';
import { CliError, EXIT, failureMessage } from './errors';
import { nightshiftCommand } from './hints';
import { load } from './lazy';
import { capabilityWaits, queryWithWorker } from './workers';

/** The newest running batch, else the newest batch at all. */
export async function latestBatchId(client: Client, runningOnly = false): Promise<string> {
  for (const filter of runningOnly ? ["ExecutionStatus='Running'"] : ["ExecutionStatus='Running'", '']) {
    const query = `WorkflowType='${BATCH_WORKFLOW}'${filter ? ` AND ${filter}` : ''}`;
    for await (const wf of client.workflow.list({ query, pageSize: 1 })) return wf.workflowId;
  }
  throw new CliError(
    runningOnly ? 'no batch is running' : `no batch found; start one with \`${nightshiftCommand()} start FILE\``,
    EXIT.notFound,
  );
}

/** Batches searched, newest first, for the one that ran a task file. */
const FILE_SEARCH_LIMIT = 200;

/**
 * `report tasks/2025-11-18.yaml` (a daily file): an argument that names a task file or folder
 * means the newest batch started from it; anything else is a batch ID.
 */
export async function batchIdFor(client: Client, root: string, arg: string): Promise<string> {
  const fromCwd = path.resolve(arg);
  const abs = existsSync(fromCwd) ? fromCwd : path.resolve(root, arg);
  if (!existsSync(abs) || !(statSync(abs).isFile() || statSync(abs).isDirectory())) return arg;
  const rel = path.relative(root, abs).replace(/\/+$/, '');
  const same = (f: unknown) => typeof f === 'string' && path.normalize(f).replace(/\/+$/, '') === rel;
  let searched = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowType='${BATCH_WORKFLOW}'` })) {
    if (++searched > FILE_SEARCH_LIMIT) break;
    const history = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: wf.workflowId, runId: wf.runId },
      maximumPageSize: 1,
    });
    const payload = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    const input = payload ? (defaultPayloadConverter.fromPayload(payload) as { tasksFile?: unknown }) : undefined;
    if (same(input?.tasksFile)) return wf.workflowId;
  }
  throw new CliError(
    `no batch ran ${rel} (searched the newest ${Math.min(searched, FILE_SEARCH_LIMIT)}); start one with \`nightshift start ${rel}\``,
    EXIT.notFound,
  );
}

export async function runningBatchIds(client: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({
    query: `WorkflowType='${BATCH_WORKFLOW}' AND ExecutionStatus='Running'`,
  }))
    ids.push(wf.workflowId);
  return ids;
}

/** A finished night's tasks: from its result, or from the state store when the result points there (a night that continued as new). */
async function finishedTasks(
  r: BatchResult,
  config: Pick<NightshiftConfig, 'root' | 'store'> | undefined,
): Promise<BatchResult['tasks']> {
  if (r.tasks.length > 0 || !r.stored) return r.tasks;
  // Loaded only for a night whose tasks the store holds: `status` of a running one never opens it.
  const store = await load.store().openStateStore(config ?? loadConfig());
  try {
    return await load.batchResults().readStoredTasks(store, r.stored.spec, r.stored.results);
  } finally {
    await store.close();
  }
}

/**
 * Live state from the `status` query; for a closed batch, its result (no worker needed), with
 * its tasks from the state store `config` names (default: this process's environment) when the
 * result holds only where they are.
 */
export async function readBatch(
  client: Client,
  batchId: string,
  config?: Pick<NightshiftConfig, 'root' | 'store'>,
): Promise<BatchStatus> {
  const handle = client.workflow.getHandle(batchId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no batch "${batchId}"`, EXIT.notFound);
    throw err;
  }
  const closed = description.status.name;
  // The batch's own queue: the demo's is not the one `npm run worker` polls.
  const taskQueue = description.taskQueue;
  if (closed === 'RUNNING') {
    const status = await queryWithWorker(client, () => handle.query(batchStatusQuery), taskQueue);
    const waiting = await capabilityWaits(client, taskQueue);
    return waiting.length ? { ...status, waiting } : status;
  }
  if (closed === 'COMPLETED') {
    const r: BatchResult = await handle.result();
    return {
      report: r.report,
      batchId,
      scheduleId: r.scheduleId,
      date: r.date,
      state: 'completed',
      source: r.source,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      tasks: (await finishedTasks(r, config)).map((t) => ({ ...t, workflowId: `${batchId}/${t.taskId}` })),
    };
  }
  // A night cancelled through Temporal recorded its tasks before it ended: a worker can still answer for it.
  if (closed === 'CANCELLED') {
    const s = await queryWithWorker(client, () => handle.query(batchStatusQuery), taskQueue).catch(() => undefined);
    if (s) return { ...s, state: 'failed', error: 'cancelled' };
  }
  let error = closed.toLowerCase();
  try {
    await handle.result();
  } catch (err) {
    error = failureMessage(err);
  }
  return { batchId, date: '', state: 'failed', startedAt: description.startTime.getTime(), tasks: [], error };
}

/** A task's own query answers within this; a busy or gone task keeps the batch's figures. */
const TASK_QUERY_DEADLINE_MS = 3_000;

/**
 * The batch's status with each running task's live figures from the task's own `status`
 * query: the batch learns a task's tokens, turns and cost only when it ends, but the task
 * knows them turn by turn, and what it is doing now.
 */
export async function readBatchLive(client: Client, batchId: string): Promise<BatchStatus> {
  const s = await readBatch(client, batchId);
  if (s.state !== 'running') return s;
  const tasks = await Promise.all(
    s.tasks.map(async (t): Promise<TaskStatus> => {
      if (t.status === 'pending' || FINAL_STATES.includes(t.status)) return t;
      const live = await client
        .withDeadline(Date.now() + TASK_QUERY_DEADLINE_MS, () =>
          client.workflow.getHandle(t.workflowId).query(taskStatusQuery),
        )
        .catch(() => undefined);
      if (!live) return t;
      const { costUsd, tokens, turns, activity, questions, model, replay } = live;
      return {
        ...t,
        costUsd,
        tokens,
        turns,
        activity,
        questions,
        ...(model ? { model } : {}),
        ...(replay ? { replay } : {}),
      };
    }),
  );
  return { ...s, tasks, ...(s.budget ? { budget: withLiveSpend(s.budget, tasks) } : {}) };
}

/**
 * The batch's spend with its running tasks' own figures: its ledger learns a task's spend
 * only when the task next asks for an allowance (before a model call) and when it ends, so
 * a task waiting on an answer or mid-call has spent more than the ledger says. Each task's
 * ledger entry is at most what the task reports, so the sum of the tasks' figures is the
 * truer total; the ledger's stays when it is larger (a task whose query went unanswered).
 */
export function withLiveSpend(
  budget: NonNullable<BatchStatus['budget']>,
  tasks: Pick<TaskStatus, 'costUsd'>[],
): NonNullable<BatchStatus['budget']> {
  const reported = tasks.reduce((sum, t) => sum + toNanoUsd(t.costUsd ?? 0), 0);
  const spent = Math.max(toNanoUsd(budget.spentUsd), reported);
  if (spent === toNanoUsd(budget.spentUsd)) return budget;
  // What was reserved beyond the spend shrinks by what the live figures add: the spend came out of it.
  const committed = toNanoUsd(budget.spentUsd) + toNanoUsd(budget.reservedUsd ?? 0);
  return {
    ...budget,
    spentUsd: fromNanoUsd(spent),
    ...(budget.reservedUsd !== undefined ? { reservedUsd: fromNanoUsd(Math.max(0, committed - spent)) } : {}),
  };
}
