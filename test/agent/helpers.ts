/** Shared pieces of the agent-loop tests: a task spec, running agentTask, history size. */
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NightshiftWorker } from '../../worker';
import { type NightshiftConfig } from '../../common/config';
import { failedTaskResult, TASK_QUEUE, type TaskResult } from '../../contract';
import type { SandboxSettings } from '../../sandbox/types';
import type { TaskSpec } from '../../taskfile/types';
import { type AgentLoopOptions, type AgentTaskInput } from '../../workflows/task/messages';
import { uniqueBatchId } from '../helpers/temporal';

export const NO_NETWORK: SandboxSettings = { provider: 'local', networkAllow: [], envAllow: [] };

export function agentSpec(o: Partial<TaskSpec> = {}): TaskSpec {
  return {
    id: 'agent-1',
    title: 'Add a greeting module',
    description: 'Write greet.js and check it.',
    priority: 5,
    dependsOn: [],
    contextFiles: [],
    skills: [],
    deliverables: [],
    acceptanceCriteria: [],
    maxTurns: 20,
    createPr: false,
    triggerNext: [],
    timeoutMs: 600_000,
    source: { file: 'test' },
    sandbox: NO_NETWORK,
    ...o,
  };
}

export function agentInput(task: TaskSpec, loop: AgentLoopOptions = {}): AgentTaskInput {
  return { batchId: uniqueBatchId('agent'), date: '2026-11-21', task, loop: { heartbeatTimeoutMs: 5000, ...loop } };
}

export function workflowIdOf(input: AgentTaskInput): string {
  return `${input.batchId}/${input.task.id}`;
}

export async function startAgentTask(env: Pick<TestWorkflowEnvironment, 'client'>, input: AgentTaskInput) {
  return env.client.workflow.start('agentTask', {
    taskQueue: TASK_QUEUE,
    workflowId: workflowIdOf(input),
    args: [input],
  });
}

/** A task's result, also when it ended failed or halted (a failed workflow carrying its result). */
export function taskResultOf(handle: { result(): Promise<unknown> }): Promise<TaskResult> {
  return handle.result().then(
    (r) => r as TaskResult,
    (err: unknown) => failedTaskResult(err) ?? Promise.reject(err),
  );
}

export async function runAgentTask(
  env: Pick<TestWorkflowEnvironment, 'client'>,
  worker: NightshiftWorker,
  input: AgentTaskInput,
): Promise<{ result: TaskResult; firstRunId: string }> {
  const handle = await startAgentTask(env, input);
  const result = await worker.runUntil(taskResultOf(handle));
  return { result, firstRunId: handle.firstExecutionRunId };
}

/** Encoded size of every run of the workflow, following its continue-as-new chain. */
export async function historyBytes(
  env: Pick<TestWorkflowEnvironment, 'client'>,
  workflowId: string,
  firstRunId: string,
): Promise<{ bytes: number; events: number; runs: number }> {
  let bytes = 0;
  let events = 0;
  let runs = 0;
  for (let runId: string | undefined = firstRunId; runId; runs++) {
    const h: temporal.api.history.v1.IHistory = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    bytes += temporal.api.history.v1.History.encode(h).finish().length;
    events += h.events?.length ?? 0;
    const last: temporal.api.history.v1.IHistoryEvent | undefined = h.events?.[h.events.length - 1];
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return { bytes, events, runs };
}

export function withModel(config: NightshiftConfig, url: string): NightshiftConfig {
  return { ...config, anthropic: { apiKey: 'sk-test', baseUrl: url } };
}
