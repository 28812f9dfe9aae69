/**
 * agentTask: one task of the night, as a child of nightlyBatch. A task with a plain
 * `command:` runs it in its own sandbox; an agent task runs the durable agent loop.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { commandTask, onHost, providerHost } from '../activity-profiles';
import { runAgentLoop } from './agent-loop';
import { domainError } from '../domain-error';
import { taskDetails } from '../night/progress';
import { learnFromSuccess } from '../learning/learn-skill';
import { runSimpleTask } from './simple-task';
import {
  CANCELLED_TASK_KEEPS_RESULT_PATCH,
  RUN_KEYED_RECORDS_PATCH,
  TASK_FAILS_WORKFLOW_PATCH,
  taskRunKey,
  type AgentTaskInput,
} from './messages';
import {
  FAILING_STATES,
  NO_TOKENS,
  SEARCH_ATTRIBUTES,
  TASK_FAILED_ERROR,
  taskStatusQuery,
  type TaskResult,
  type TaskStatus,
} from '../../contract';

export async function agentTask(input: AgentTaskInput): Promise<TaskResult> {
  const { task } = input;
  const status: TaskStatus = {
    taskId: task.id,
    title: task.title,
    workflowId: workflowInfo().workflowId,
    status: 'running',
    costUsd: input.carried?.costUsd ?? 0,
    tokens: { ...(input.carried?.tokens ?? NO_TOKENS) },
    turns: (input.carried?.turn ?? 1) - 1,
    startedAt: input.carried?.startedAt ?? Date.now(),
  };
  setHandler(taskStatusQuery, () => status);
  const info = workflowInfo();
  // A continued run keeps its chain's key; a run begun before the patch keeps the workflow ID.
  const storeKey = input.carried
    ? (input.carried.storeKey ?? info.workflowId)
    : patched(RUN_KEYED_RECORDS_PATCH)
      ? taskRunKey(info.workflowId, info.firstExecutionRunId)
      : info.workflowId;

  const end = (patch: Partial<TaskResult>): TaskResult => {
    Object.assign(status, patch, { endedAt: Date.now() });
    setCurrentDetails(taskDetails(status, Date.now()));
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status.status }]);
    const { title: _t, workflowId: _w, activity: _a, questions: _q, ...result } = status;
    return result;
  };
  /**
   * A failed or halted task fails its workflow, so every Temporal view says so; the result
   * is the failure's details, for the batch (failedTaskResult). Not retried: the work ran.
   */
  const finished = (result: TaskResult): TaskResult => {
    if (!FAILING_STATES.includes(result.status) || !patched(TASK_FAILS_WORKFLOW_PATCH)) return result;
    throw taskFailure(result);
  };
  const taskFailure = (result: TaskResult) =>
    ApplicationFailure.create({
      type: TASK_FAILED_ERROR,
      message: `${task.id} ${result.status}: ${result.error ?? 'no reason given'}`,
      nonRetryable: true,
      details: [result],
    });

  try {
    if (task.command !== undefined) {
      const { runCommandTask } = proxyActivities<Activities>(
        onHost(commandTask(task.timeoutMs), providerHost(task.sandbox?.provider)),
      );
      status.activity = `running: ${task.command}`;
      const r = await runCommandTask({ workflowId: storeKey, task });
      if (r.exitCode === 0)
        return end({ status: 'succeeded', summary: r.outputTail.split('\n').filter(Boolean).pop() });
      return finished(
        end({
          status: 'failed',
          error: r.timedOut
            ? `timed out after ${task.timeoutMs} ms`
            : `command exited with ${r.exitCode}: ${r.outputTail.slice(-300)}`,
        }),
      );
    }
    const outcome = task.simpleMode
      ? await runSimpleTask(input, status, storeKey)
      : await runAgentLoop(input, status, storeKey);
    await learnFromSuccess(input, outcome, storeKey);
    return finished(end({ status: 'failed', ...outcome }));
  } catch (err) {
    // continue-as-new is how a long loop hands over to a fresh run, not a failure.
    if (err instanceof ContinueAsNew) throw err;
    // Already the task's own ending (finished above).
    if (err instanceof ApplicationFailure && err.type === TASK_FAILED_ERROR) throw err;
    if (isCancellation(err)) {
      const result = await CancellationScope.nonCancellable(async () =>
        end({ status: 'cancelled', error: status.error ?? 'cancelled' }),
      );
      // The batch reads the cancelled task's result (its work dir, a draft branch) from the failure.
      if (patched(CANCELLED_TASK_KEEPS_RESULT_PATCH)) throw taskFailure(result);
      throw err;
    }
    if (err instanceof ApplicationFailure && err.nonRetryable)
      return finished(end({ status: 'failed', error: err.message }));
    return finished(end({ status: 'failed', error: domainError(err).message }));
  }
}
