/**
 * The names users and scripts type (README, "With the Temporal CLI"): the task queue, every
 * workflow type and their default workflow IDs. Changing a value here breaks scripts and
 * running nights; adding one is safe. No imports: the CLI loads this at start-up.
 */
/** The queue every nightshift workflow runs on; capability and host queues derive from it (common/task-queues.ts). */
export const TASK_QUEUE = 'nightshift';

export const BATCH_WORKFLOW = 'nightlyBatch';
export const TASK_WORKFLOW = 'agentTask';
/** The per-day spend ledger across batches (the daily cap: resets at midnight UTC). */
export const LEDGER_WORKFLOW = 'dailyLedger';
export const INTAKE_WORKFLOW = 'nightshiftIntake';
export const PLANNED_WORKFLOW = 'plannedNight';
export const IMPROVE_WORKFLOW = 'improvementLoops';

/** Every workflow type the worker registers; workflows/index.ts and workflows/versioning.ts must cover each. */
export const WORKFLOW_TYPES = [
  BATCH_WORKFLOW,
  TASK_WORKFLOW,
  PLANNED_WORKFLOW,
  IMPROVE_WORKFLOW,
  INTAKE_WORKFLOW,
  LEDGER_WORKFLOW,
] as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[number];

/** `nightshift schedule create` without `--id`; its runs are named `nightshift-<scheduled time>`. */
export const DEFAULT_SCHEDULE_ID = 'nightshift-nightly';

/** One intake owns a tasks folder; the ID keeps a second one from starting beside it. */
export const DEFAULT_INTAKE_ID = 'nightshift-intake';

export function batchIdFor(date: string): string {
  return `nightshift-${date}`;
}

export function taskWorkflowId(batchId: string, taskId: string): string {
  return `${batchId}/${taskId}`;
}

/** `nightshift-ledger-<YYYY-MM-DD>`, the UTC date. */
export function ledgerWorkflowId(date: string): string {
  return `nightshift-ledger-${date}`;
}

/** The UTC date of `epochMs`: which day's ledger a reservation made then belongs to. */
export function ledgerDate(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** The plannedNight that plans and then runs batch `batchId`. */
export function planWorkflowId(batchId: string): string {
  return `${batchId}-plan`;
}

export function improveWorkflowId(date: string): string {
  return `nightshift-improve-${date}`;
}
