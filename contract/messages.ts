/**
 * The signals, queries and updates users and scripts send (README, "With the Temporal
 * CLI"), with their inputs. Messages only workflows and activities send each other are
 * internal and live beside the workflow that handles them.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BatchStatus, DailyLedgerStatus, IntakeStatus, TaskResult, TaskStatus } from './results';

export interface AnswerInput {
  text: string;
  questionId?: string;
  /** Required when signalling the batch, which routes the answer to the task. */
  taskId?: string;
  /** Who answers, shown with the answer in the report and the PR. */
  by?: string;
}

export interface RaiseBudgetInput {
  /** USD added to the batch's cap, or to the task's cap when taskId is given. */
  addUsd: number;
  taskId?: string;
}

export const answerSignal = defineSignal<[AnswerInput]>('answer');

export const batchStatusQuery = defineQuery<BatchStatus>('status');

export const taskStatusQuery = defineQuery<TaskStatus>('status');

/** Raises the batch cap (or one task's cap) and resumes tasks paused by the budget. */
export const raiseBudgetUpdate = defineUpdate<{ capUsd: number; resumed: string[] }, [RaiseBudgetInput]>('raiseBudget');

export const cancelTaskUpdate = defineUpdate<TaskResult, [{ taskId: string; reason?: string }]>('cancelTask');

/**
 * Cancels the whole night gracefully: running tasks are cancelled (their processes killed,
 * their work kept), tasks not started are cancelled with the reason, and the batch writes
 * its report and completes. Returns every task's result.
 */
export const cancelBatchUpdate = defineUpdate<TaskResult[], [{ reason?: string }]>('cancelBatch');

/** The day's ledger: `status` query. Its `raiseBudget` update takes `{ addUsd }` and resumes the day's paused tasks. */
export const dailyLedgerStatusQuery = defineQuery<DailyLedgerStatus>('status');

export const intakeStatusQuery = defineQuery<IntakeStatus>('status');

/** Queues task objects (the task-file schema) as files in pending/; returns their IDs. */
export const addTasksUpdate = defineUpdate<{ added: string[] }, [{ tasks: unknown[] }]>('addTasks');
