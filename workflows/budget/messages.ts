/**
 * The budget's internals on every side: what a task holds, the batch's ledger, the day's
 * ledger, and the updates and signals by which they reserve, settle and resume.
 */
import { defineSignal, defineUpdate } from '@temporalio/workflow';

/** The task's side of the budget: what the batch granted and the estimate of the next request. */
export interface TaskBudgetState {
  /** Total the batch has granted this task (never less than what it spent). */
  allowanceUsd: number;
  /** Extra task cap granted by raiseBudget with a taskId. */
  capRaisedUsd: number;
  /** Estimated input tokens of the next model request. */
  nextInputTokens: number;
  /** The 75% warning went out. */
  warned: boolean;
  /** The wrap-up turn was granted. */
  wrappedUp: boolean;
  /** How many reservations were refused (part of the next grant key). */
  refusals: number;
  /** Workflow time of the last model answer: a longer gap than the cache lives means the next call writes at the 1-hour rate. */
  lastAnsweredAt?: number;
  /** A gap that long happened: every later call writes at the 1-hour rate (call-model.ts keeps the TTL once chosen). */
  longCacheTtl?: boolean;
  /** Workflow time the prompt cache was last touched (a model call's or a keep-alive's start); set where the loop keeps it warm (workflows/task/cache-warmth.ts). */
  cacheTouchedAt?: number;
}

/** The batch's budget (workflows/budget/arithmetic.ts): the cap, and per task what it spent and holds. */
export interface BatchBudgetLedger {
  capUsd: number;
  tasks: Record<string, { spentUsd: number; heldUsd: number }>;
  warned: boolean;
  /** The last grant per task, so a retried request gets the same answer. */
  lastGrant: Record<string, { key: string; grant: AllowanceGrant }>;
}

export interface AllowanceRequest {
  taskId: string;
  /** Idempotency key: `<task workflow ID>#<turn>#<refusals>`. */
  key: string;
  /** What the task has booked so far (real cost from usage). */
  spentUsd: number;
  /** The allowance it needs to hold after this request: spent + the next call's worst case. */
  needUsd: number;
}

export interface AllowanceGrant {
  granted: boolean;
  /** The task's allowance after this request (its spent when refused: the rest goes back). */
  allowanceUsd: number;
  capUsd: number;
  /** Spent + held by all tasks, after this request. */
  committedUsd: number;
  /** Set when the day's ledger refused what the batch would have granted. */
  refusedBy?: 'day';
  /** The day's ledger, when a daily cap applies (workflows/budget/daily-ledger.ts). */
  day?: { date: string; capUsd: number; committedUsd: number };
}

/** A batch asking the day's ledger (workflow `dailyLedger`) for a task's allowance. */
export interface DailyAllowanceRequest {
  /** The task workflow ID. */
  holder: string;
  /** The task's own request key: `<task workflow ID>#<turn>#<refusals>`. */
  key: string;
  /** What the task has booked so far, over its whole life. */
  spentUsd: number;
  needUsd: number;
  /** The requesting batch's daily cap (daily_max_cost_usd / NIGHTSHIFT_DAILY_MAX_COST_USD). */
  capUsd: number;
}

/** The day ledger's answer; `warn` is true once, when the day first passes 75% of its cap. */
export interface DailyGrant extends AllowanceGrant {
  date: string;
  warn?: boolean;
}

/** One UTC day's spend across every batch (workflows/budget/arithmetic.ts). */
export interface DailyLedgerState {
  date: string;
  /** Per task workflow ID; amounts relative to `bases`. */
  ledger: BatchBudgetLedger;
  /** What each task had spent when it first reserved this day (earlier money belongs to earlier days). */
  bases: Record<string, number>;
  /** Added by raiseBudget on the ledger, on top of every batch's daily cap. */
  raisedUsd: number;
  /** Tasks whose last request this day was refused. */
  paused: string[];
}

/** Internal: a task reserving its next call's worst case from the batch (sent by an activity). */
export const reserveBudgetUpdate = defineUpdate<AllowanceGrant, [AllowanceRequest]>('reserveBudget');

/** Internal: a batch reserving a task's allowance from the day's ledger (sent by an activity, with start). */
export const reserveDailyUpdate = defineUpdate<DailyGrant, [DailyAllowanceRequest]>('reserveDaily');

/** Internal: a batch telling the day's ledger that a task ended having spent `spentUsd` in all. */
export const settleDailySignal = defineSignal<[{ holder: string; spentUsd: number }]>('settleDaily');

/** Internal: the batch telling a paused task that its budget was raised. */
export const budgetRaisedSignal = defineSignal<[{ taskCapAddUsd?: number }]>('budgetRaised');
