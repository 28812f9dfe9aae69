/**
 * What starting each public workflow takes (`temporal workflow start --input`). State a
 * workflow carries across continue-as-new is internal and lives beside it.
 */
import type { IntakeMode, SpecRef } from './results';

/** `{ "tasksFile"?, "spec"?, "date"? }`: exactly one of tasksFile and spec. */
export interface BatchInput {
  /** A task file or directory, relative to the worker's NIGHTSHIFT_ROOT (`temporal workflow start --input`). */
  tasksFile?: string;
  spec?: unknown;
  /**
   * The validated spec `nightshift start` put in the state store: every worker, on any
   * host, runs this night and not its own reading of `tasksFile` (kept for people to read).
   */
  storedSpec?: SpecRef;
  /** YYYY-MM-DD; defaults to the file's `date:`, then the date in the workflow ID, then the start date (UTC). */
  date?: string;
  /**
   * IANA time zone in which a scheduled run's start time is read as the night's date
   * (`nightshift schedule create --timezone`). @default 'UTC'
   */
  timezone?: string;
  /**
   * Follow-up first (`nightshift schedule create --followup`): before the night's own
   * tasks, the review feedback and failing checks on the open nightshift PRs of its tasks'
   * GitHub repositories become tasks that continue those PRs (workflows/followup/night.ts).
   * `since`: ISO date or time; older feedback is not read. @default off
   */
  followUp?: { since?: string };
  /** Advanced: continue-as-new once history passes this many events. @default 8000 */
  historyEventLimit?: number;
  /** Advanced: a night that continued as new lists its results in its BatchResult only up to this many tasks. @default 200 */
  inlineResultsMaxTasks?: number;
}

/** Who may send notifications and of which events (task file `notify:` merged with the worker's environment). */
export interface NotifySettings {
  /** @default every event */
  events?: NotifyEvent[];
  telegram?: { chatId?: string };
  slack?: { webhookUrl?: string };
  webhook?: { url?: string };
}

export const NOTIFY_EVENTS = [
  'question',
  'budget_warning',
  'budget_exhausted',
  'halted',
  'failed',
  'batch_finished',
] as const;

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

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
}

export interface ImproveInput {
  /** Repository (URL or path inside NIGHTSHIFT_ROOT) to improve. */
  repo: string;
  loops: number;
  /** YYYY-MM-DD, for the task files and results. */
  date: string;
  /** max_cost_usd of each loop's batch. @default 50 */
  maxCostUsdPerLoop?: number;
  /** Model for research and planning. @default sonnet (planning), by complexity (research) */
  model?: string;
}

export interface PlannedNightInput {
  goal?: string;
  /** A PRD inside NIGHTSHIFT_ROOT to plan from instead of a goal. */
  prdFile?: string;
  date: string;
  /** The batch's workflow ID. @default nightshift-<date> */
  batchId?: string;
  maxCostUsd?: number;
  repo?: string;
  /** Planning model alias or ID. @default sonnet */
  model?: string;
  /** Task file to write. @default tasks/<date>.yaml */
  out?: string;
}
