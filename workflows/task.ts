/**
 * agentTask: one task of the night, as a child of nightlyBatch. A task with a plain
 * `command:` runs it in its own sandbox; an agent task runs the durable agent loop.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { commandTask } from './activity-profiles';
import { runAgentLoop } from './agent-loop';
import { learnFromSuccess } from './learning';
import { runSimpleTask } from './simple-task';
import { NO_TOKENS, SEARCH_ATTRIBUTES, taskStatusQuery, type AgentTaskInput, type TaskResult, type TaskStatus } from './contract';

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

  const end = (patch: Partial<TaskResult>): TaskResult => {
    Object.assign(status, patch, { endedAt: Date.now() });
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status.status }]);
    const { title: _t, workflowId: _w, activity: _a, questions: _q, ...result } = status;
    return result;
  };

  try {
    if (task.command !== undefined) {
      const { runCommandTask } = proxyActivities<Activities>(commandTask(task.timeoutMs));
      status.activity = `running: ${task.command}`;
      const r = await runCommandTask({ workflowId: status.workflowId, task });
      if (r.exitCode === 0) return end({ status: 'succeeded', summary: r.outputTail.split('\n').filter(Boolean).pop() });
      return end({ status: 'failed', error: r.timedOut ? `timed out after ${task.timeoutMs} ms` : `command exited with ${r.exitCode}: ${r.outputTail.slice(-300)}` });
    }
    const outcome = task.simpleMode ? await runSimpleTask(input, status, status.workflowId) : await runAgentLoop(input, status);
    await learnFromSuccess(input, outcome);
    return end({ status: 'failed', ...outcome });
  } catch (err) {
    // continue-as-new is how a long loop hands over to a fresh run, not a failure.
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        end({ status: 'cancelled', error: 'cancelled' });
      });
      throw err;
    }
    if (err instanceof ApplicationFailure && err.nonRetryable) return end({ status: 'failed', error: err.message });
    const cause = (err as { cause?: Error }).cause;
    return end({ status: 'failed', error: cause?.message ?? (err as Error).message });
  }
}
