/**
 * The agentTask workflow's internals: its input as the batch starts it, the state it
 * carries across continue-as-new, the signal it sends its batch, and the patch IDs of its
 * changes (values fixed by the histories that recorded them).
 */
import { defineSignal } from '@temporalio/workflow';
import type { SandboxSettings } from '../../sandbox/types';
import type { TaskSpec } from '../../taskfile/types';
import type {
  AnsweredQuestion,
  AnswerInput,
  InterruptedCall,
  NotifySettings,
  OpenQuestion,
  TaskState,
  TokenUsage,
} from '../../contract';
import type { ProgressState } from './progress-guard';
import type { TaskBudgetState } from '../budget/messages';

/**
 * What a task run's records are kept under: its transcript, tool results, prompt, sandbox,
 * checkpoints and kept work. A rerun reuses the workflow ID, so the key adds the run
 * chain's first run ID (which continue-as-new keeps): a rerun starts clean instead of
 * finding the earlier run's turns and reporting them as its own.
 */
export function taskRunKey(workflowId: string, firstExecutionRunId: string): string {
  return `${workflowId}@${firstExecutionRunId}`;
}

/** patched() ID of keying a task's records by run (taskRunKey) instead of by workflow ID. */
export const RUN_KEYED_RECORDS_PATCH = 'task-records-keyed-by-run';

/** patched() ID of delivering to deliveryBranch (per batch) instead of LEGACY_DELIVERY_BRANCH (branches.ts). */
export const BRANCH_PER_BATCH_PATCH = 'delivery-branch-per-batch';

/** patched() ID of ending a failed or halted task as a failed workflow. */
export const TASK_FAILS_WORKFLOW_PATCH = 'task-failure-fails-workflow';

/**
 * patched() ID of a cancelled task that delivers its work so far (a draft) and ends as a
 * failed workflow carrying its result (status `cancelled`), so the batch knows where the
 * work went.
 */
export const CANCELLED_TASK_KEEPS_RESULT_PATCH = 'cancelled-task-delivers-and-reports';

/**
 * A local sandbox's activities go to the queue of the worker that created it (a task that
 * created its sandbox before this ran everything on the shared queue, and still does).
 */
export const SANDBOX_AFFINITY_PATCH = 'sandbox-activities-on-host-queue';

/** A dependency's delivered branch, which a dependent task starts from. */
export interface DependencyBranch {
  taskId: string;
  branch: string;
  commit: string;
  pushed?: boolean;
  prNumber?: number;
  prUrl?: string;
}

export interface AgentTaskInput {
  batchId: string;
  date: string;
  task: TaskSpec;
  /**
   * The batch's sandbox settings, from before tasks carried their own (`task.sandbox`), and
   * a copy of those after. Histories of those nights still hold it, so it stays readable;
   * nothing sends it now, and workflows/task/sandbox.ts sandboxSettingsOf reads the task's copy first.
   */
  sandbox?: SandboxSettings;
  /**
   * The workflow that grants this task's budget allowances (a nightlyBatch). Default: the
   * parent workflow. null: none; the task's own max_cost_usd alone bounds it (a task
   * started by a workflow that holds no batch budget).
   */
  allowanceFrom?: string | null;
  /** Tuning of the agent loop; the batch passes none. */
  loop?: AgentLoopOptions;
  /** Notification channels of the batch file. */
  notify?: NotifySettings;
  /** Branches of the task's dependencies, in depends_on order: the task starts from them. */
  dependencies?: DependencyBranch[];
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
  /**
   * How long an activity for a sandbox waits for its host's worker to pick it up before the
   * host counts as lost. @default HOST_SCHEDULE_TO_START_MS (activity-profiles.ts)
   */
  hostScheduleToStartMs?: number;
  /** Advanced (tests, with a fake whose cache clock runs faster): how long the API keeps a 5-minute cache entry. @default 300000 */
  cacheLifetimeMs?: number;
}

export interface CarriedAgentState {
  /** The next turn to run. */
  turn: number;
  /** taskRunKey of the chain; absent in runs started before records were keyed by run. */
  storeKey?: string;
  sandboxId: string;
  startedAt: number;
  costUsd: number;
  tokens: TokenUsage;
  model?: string;
  replay?: boolean;
  costEstimated?: boolean;
  runs: number;
  /** Answers that arrived with no question open yet; delivered to the next question. */
  answers?: AnswerInput[];
  /** Budget and question state of the loop (workflows/budget/task-side.ts, workflows/questions/ask-human.ts). */
  budget?: TaskBudgetState;
  assumptions?: string[];
  answeredQuestions?: AnsweredQuestion[];
  notes?: string[];
  /** Time spent waiting for answers or budget, which does not count against the task's timeout. */
  waitedMs?: number;
  /** Fix rounds already given for failing checks. */
  fixRounds?: number;
  /** The agent was already told of weakened tests (one round only). */
  integrityTold?: boolean;
  /** The no-progress guard's memory of the turns so far. */
  progress?: ProgressState;
  interruptedCalls?: InterruptedCall[];
  /** The worker-specific queue of the sandbox's host (SANDBOX_AFFINITY_PATCH). */
  sandboxQueue?: string;
  sandboxesLost?: number;
}

/** Internal: a task telling its batch that a question opened or closed, or that it paused. */
export const taskEventSignal =
  defineSignal<[{ taskId: string; status: TaskState; question?: OpenQuestion | null }]>('taskEvent');
