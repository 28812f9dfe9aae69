/**
 * The names users and scripts rely on (design.md, "Public contract"): signals, queries,
 * updates and search attributes, and the shapes that travel through them. The client
 * imports these definitions too, so both sides agree by construction.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { BatchSpec, TaskSpec } from '../spec/types';

export const BATCH_WORKFLOW = 'nightlyBatch';
export const TASK_WORKFLOW = 'agentTask';

export const SEARCH_ATTRIBUTES = {
  batch: defineSearchAttributeKey('NightshiftBatch', SearchAttributeType.KEYWORD),
  task: defineSearchAttributeKey('NightshiftTask', SearchAttributeType.KEYWORD),
  repo: defineSearchAttributeKey('NightshiftRepo', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('NightshiftStatus', SearchAttributeType.KEYWORD),
};

/** `nightshift schedule create` without `--id`; its runs are named `nightshift-<scheduled time>`. */
export const DEFAULT_SCHEDULE_ID = 'nightshift-nightly';

export function batchIdFor(date: string): string {
  return `nightshift-${date}`;
}

export function taskWorkflowId(batchId: string, taskId: string): string {
  return `${batchId}/${taskId}`;
}

/** `{ "tasksFile"?, "spec"?, "date"? }`: exactly one of tasksFile and spec. */
export interface BatchInput {
  tasksFile?: string;
  spec?: unknown;
  /** YYYY-MM-DD; defaults to the file's `date:`, then the date in the workflow ID, then the start date (UTC). */
  date?: string;
  /**
   * IANA time zone in which a scheduled run's start time is read as the night's date
   * (`nightshift schedule create --timezone`). @default 'UTC'
   */
  timezone?: string;
  /** Advanced: continue-as-new once history passes this many events. @default 8000 */
  historyEventLimit?: number;
  /** Internal: state carried across continue-as-new. */
  carried?: CarriedBatchState;
}

export type TaskState =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'incomplete'
  | 'halted'
  | 'cancelled'
  | 'skipped'
  | 'waiting_for_answer'
  | 'paused_budget';

/** States after which a task never changes again. */
export const FINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'incomplete', 'halted', 'cancelled', 'skipped'];

export interface TokenUsage {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

export const NO_TOKENS: TokenUsage = { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 };

/** What a task reports when it ends; also the batch's per-task record. */
export interface TaskResult {
  taskId: string;
  status: TaskState;
  /** Why it failed, was skipped or cancelled. */
  error?: string;
  summary?: string;
  costUsd: number;
  tokens: TokenUsage;
  turns: number;
  /** Epoch ms, from workflow time. */
  startedAt?: number;
  endedAt?: number;
  branch?: string;
  prUrl?: string;
  /** The model that answered (`replay:<recording>` for the offline replay model). */
  model?: string;
  /** True when the offline replay model answered instead of a real one: reports must say so. */
  replay?: boolean;
  /** True when some turn's model was missing from the price table and was charged at the dearest row. */
  costEstimated?: boolean;
  /** Where the task's files were kept after its sandbox was removed. */
  workDir?: string;
  /** The repos-file name of the repo a task expanded over many repos ran on. */
  repo?: string;
}

export interface AgentTaskInput {
  batchId: string;
  date: string;
  task: TaskSpec;
  sandbox: BatchSpec['sandbox'];
  /** Tuning of the agent loop; the batch passes none. */
  loop?: AgentLoopOptions;
  /** Internal: state carried across continue-as-new. */
  carried?: CarriedAgentState;
}

export interface AgentLoopOptions {
  /**
   * How soon a dead worker's model or tool call is noticed and retried elsewhere.
   * @default 30000
   */
  heartbeatTimeoutMs?: number;
  /** max_tokens of each model call. @default 8192 */
  maxTokens?: number;
  /** Advanced (tests): continue-as-new after this many turns in one run, besides when Temporal suggests it. */
  continueAsNewEveryTurns?: number;
}

export interface CarriedAgentState {
  /** The next turn to run. */
  turn: number;
  sandboxId: string;
  startedAt: number;
  costUsd: number;
  tokens: TokenUsage;
  model?: string;
  replay?: boolean;
  costEstimated?: boolean;
  runs: number;
}

export interface TaskStatus extends TaskResult {
  title: string;
  workflowId: string;
  /** Last thing the task did, for `nightshift status`. */
  activity?: string;
}

export interface BatchStatus {
  batchId: string;
  date: string;
  state: 'loading' | 'running' | 'completed' | 'failed';
  source?: string;
  startedAt: number;
  endedAt?: number;
  maxConcurrentAgents?: number;
  budget?: { capUsd: number; spentUsd: number };
  tasks: TaskStatus[];
  error?: string;
  /** Set once the batch has written its report. */
  report?: BatchResult['report'];
  /** The Temporal Schedule that started this batch, if one did. */
  scheduleId?: string;
}

export interface BatchResult {
  batchId: string;
  date: string;
  source: string;
  startedAt: number;
  endedAt: number;
  costUsd: number;
  tokens: TokenUsage;
  tasks: (TaskResult & { title: string })[];
  /** Report files relative to NIGHTSHIFT_ROOT, or why they could not be written. */
  report?: { markdown: string; json: string } | { error: string };
  /** The Temporal Schedule that started this batch, if one did. */
  scheduleId?: string;
}

export interface CarriedBatchState {
  spec: BatchSpec;
  startedAt: number;
  results: Record<string, TaskResult>;
  runs: number;
}

export interface AnswerInput {
  text: string;
  questionId?: string;
  /** Required when signalling the batch, which routes the answer to the task. */
  taskId?: string;
}

export const answerSignal = defineSignal<[AnswerInput]>('answer');
export const batchStatusQuery = defineQuery<BatchStatus>('status');
export const taskStatusQuery = defineQuery<TaskStatus>('status');
export const cancelTaskUpdate = defineUpdate<TaskResult, [{ taskId: string; reason?: string }]>('cancelTask');
