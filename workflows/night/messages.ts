/**
 * The nightlyBatch workflow's internals: the state it carries across continue-as-new, how
 * it keeps its spec and results in the state store, and the patch IDs of its changes
 * (values fixed by the histories that recorded them).
 */
import type { BatchSpec, TaskSpec } from '../../taskfile/types';
import type { BatchInput, ResultsRef, SpecRef, TaskResult, TokenUsage } from '../../contract';
import type { BatchBudgetLedger } from '../budget/messages';

/** nightlyBatch's input: the public BatchInput and the state a run carries across continue-as-new. */
export interface NightlyBatchInput extends BatchInput {
  carried?: CarriedBatchState;
}

export interface CarriedBatchState {
  /** Runs continued as new before BATCH_SPEC_BY_REFERENCE_PATCH carry the whole spec… */
  spec?: BatchSpec;
  /** …later ones only its key in the state store. */
  specRef?: SpecRef;
  /** Set when the night claimed a pending/ folder's files (SCHEDULED_FOLDER_NIGHT_PATCH): they are settled at its end. */
  claimedAs?: string;
  startedAt: number;
  /** Runs continued as new before BATCH_RESULTS_BY_REFERENCE_PATCH carry every ended task's result… */
  results: Record<string, TaskResult>;
  /** …later ones the key they are stored under, */
  resultsRef?: ResultsRef;
  /** each ended task's state packed one character per task in spec order (workflows/night/results.ts), */
  states?: string;
  /** and the sums over the tasks ended in earlier runs. */
  totals?: { costUsd: number; tokens: TokenUsage; turns: number };
  runs: number;
  budget?: BatchBudgetLedger;
  notes?: string[];
}

/**
 * patched() ID of a scheduled night over a `pending/` folder that takes its files like the
 * intake does (pending/ -> running/<night>/ -> completed/, failed/, or back to pending/ if
 * the task never ran), so the next night does not run them again; an empty folder is an
 * empty night.
 */
export const SCHEDULED_FOLDER_NIGHT_PATCH = 'scheduled-folder-night-claims-files';

/** Whether a batch's tasks path is folder mode's `pending/` folder (`tasks/pending`, `tasks/pending/`). */
export function isPendingFolder(tasksFile: string): boolean {
  const parts = tasksFile.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1] === 'pending';
}

/** patched() ID of a batch that, when cancelled through Temporal, still cancels its tasks one by one and writes its report. */
export const GRACEFUL_BATCH_CANCEL_PATCH = 'batch-cancel-writes-report';

/** What the workflow's history holds of a stored spec: its key, its settings and how many parts its task index fills. */
export interface BatchSpecHeader {
  ref: SpecRef;
  parts: number;
  taskCount: number;
  settings: Omit<BatchSpec, 'tasks'>;
}

/**
 * What the batch needs of a task to schedule and show it; the whole TaskSpec (prompt,
 * checks, sandbox...) is read from the store when the task starts (readBatchTask), so a
 * run's history holds only the tasks it starts. About a seventh of the whole.
 */
export type TaskIndexEntry = Pick<
  TaskSpec,
  'id' | 'title' | 'dependsOn' | 'priority' | 'repo' | 'repoName' | 'complexity' | 'role' | 'fanOut'
> & {
  /** Its position in the normalized spec: where readBatchTask finds it. */
  index: number;
  /** The task's file, kept only for a night that claimed a pending/ folder (its files are settled by it at the end). */
  sourceFile?: string;
};

/** patched() ID of a batch that keeps its spec in the state store and history only the key (storeBatchSpec, readBatchSpecPart). */
export const BATCH_SPEC_BY_REFERENCE_PATCH = 'batch-spec-by-reference';

/**
 * patched() ID of a batch that writes each ended task's result to the state store
 * (recordTaskResults) and carries across continue-as-new only each task's state, one
 * character a task, and running totals; the report reads the results from the store. A
 * night carrying whole results passed the 2 MiB continue-as-new limit at about 7,100 tasks.
 */
export const BATCH_RESULTS_BY_REFERENCE_PATCH = 'batch-results-by-reference';
