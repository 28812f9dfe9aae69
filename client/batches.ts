/** Finding and reading batches through the Temporal client. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BATCH_WORKFLOW, batchStatusQuery, FINAL_STATES, taskStatusQuery, type BatchResult, type BatchStatus, type TaskStatus } from '../workflows/contract';
import { CliError, EXIT } from './errors';
import { nightshiftCommand } from './hints';
import { queryWithWorker } from './workers';

/** The newest running batch, else the newest batch at all. */
export async function latestBatchId(client: Client, runningOnly = false): Promise<string> {
  for (const filter of runningOnly ? ["ExecutionStatus='Running'"] : ["ExecutionStatus='Running'", '']) {
    const query = `WorkflowType='${BATCH_WORKFLOW}'${filter ? ` AND ${filter}` : ''}`;
    for await (const wf of client.workflow.list({ query, pageSize: 1 })) return wf.workflowId;
  }
  throw new CliError(runningOnly ? 'no batch is running' : `no batch found; start one with \`${nightshiftCommand()} start FILE\``, EXIT.notFound);
}

export async function runningBatchIds(client: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType='${BATCH_WORKFLOW}' AND ExecutionStatus='Running'` })) ids.push(wf.workflowId);
  return ids;
}

/** Live state from the `status` query; for a closed batch, its result (no worker needed). */
export async function readBatch(client: Client, batchId: string): Promise<BatchStatus> {
  const handle = client.workflow.getHandle(batchId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no batch "${batchId}"`, EXIT.notFound);
    throw err;
  }
  const closed = description.status.name;
  if (closed === 'RUNNING') return queryWithWorker(client, () => handle.query(batchStatusQuery));
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
      tasks: r.tasks.map((t) => ({ ...t, workflowId: `${batchId}/${t.taskId}` })),
    };
  }
  // A night cancelled through Temporal recorded its tasks before it ended: a worker can still answer for it.
  if (closed === 'CANCELLED') {
    const s = await queryWithWorker(client, () => handle.query(batchStatusQuery)).catch(() => undefined);
    if (s) return { ...s, state: 'failed', error: 'cancelled' };
  }
  let error = closed.toLowerCase();
  try {
    await handle.result();
  } catch (err) {
    const cause = (err as { cause?: Error }).cause;
    error = cause?.message ?? (err as Error).message;
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
        .withDeadline(Date.now() + TASK_QUERY_DEADLINE_MS, () => client.workflow.getHandle(t.workflowId).query(taskStatusQuery))
        .catch(() => undefined);
      if (!live) return t;
      const { costUsd, tokens, turns, activity, questions, model, replay } = live;
      return { ...t, costUsd, tokens, turns, activity, questions, ...(model ? { model } : {}), ...(replay ? { replay } : {}) };
    }),
  );
  return { ...s, tasks };
}
