/**
 * Public names and shapes of the intake workflow (seed 000's modes over a tasks folder):
 * `nightshiftIntake`, default ID `nightshift-intake`, query `status`, update `addTasks`.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { TaskResult } from './contract';

export const INTAKE_WORKFLOW = 'nightshiftIntake';
/** One intake owns a tasks folder; the ID keeps a second one from starting beside it. */
export const DEFAULT_INTAKE_ID = 'nightshift-intake';

export type IntakeMode = 'once' | 'batch' | 'continuous';

export interface IntakeInput {
  /** The folder holding pending/ running/ completed/ failed/, relative to NIGHTSHIFT_ROOT. @default 'tasks' */
  folder?: string;
  /** once: the best pending task, then stop; batch: every pending task, then stop; continuous: until cancelled. */
  mode: IntakeMode;
  /** Spend per UTC day; no task starts past it, and each task's own cap is cut to what is left. @default 50 */
  dailyBudgetUsd?: number;
  /** Tasks running at once. @default 3 */
  maxConcurrent?: number;
  /** How often pending/ is read. @default 60000 */
  pollIntervalMs?: number;
  /** Continue-as-new past this many history events. @default 4000 */
  historyEventLimit?: number;
  /** Advanced (tests): continue-as-new after this many polls in one run. */
  continueAsNewEveryPolls?: number;
  /** Internal: state carried across continue-as-new. */
  carried?: CarriedIntakeState;
}

export interface InFlightTask {
  taskId: string;
  /** File name in running/. */
  file: string;
  workflowId: string;
  /** First run of the task workflow ('' when adopted after a crash: its latest run). */
  runId: string;
  /** The share of the daily budget set aside for it. */
  allowanceUsd: number;
}

export interface CarriedIntakeState {
  day: string;
  spentUsd: number;
  inFlight: InFlightTask[];
  /** Newest last, at most RECENT_RESULTS. */
  recent: (TaskResult & { file: string })[];
  /** Task IDs that succeeded under this intake (dependencies met even if their file is moved away). */
  succeeded: string[];
  runs: number;
  polls: number;
}

export interface IntakeStatus {
  intakeId: string;
  mode: IntakeMode;
  folder: string;
  state: 'running' | 'idle' | 'paused_budget' | 'completed';
  day: string;
  budget: { capUsd: number; spentUsd: number; reservedUsd: number };
  inFlight: InFlightTask[];
  recent: (TaskResult & { file: string })[];
  /** Files moved to failed/ because they did not validate, this run. */
  rejected: { file: string; error: string }[];
  /** Pending tasks waiting for tasks no file has named yet, as of the last poll. */
  waiting?: { file: string; taskId: string; unseen: string[] }[];
  runs: number;
}

export const intakeStatusQuery = defineQuery<IntakeStatus>('status');
/** Queues task objects (the task-file schema) as files in pending/; returns their IDs. */
export const addTasksUpdate = defineUpdate<{ added: string[] }, [{ tasks: unknown[] }]>('addTasks');
