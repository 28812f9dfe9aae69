/**
 * The task's side of the budget (design.md, "Budgets are workflow state"): before each
 * model call, reserve its worst case against the task's cap and, through the batch, the
 * batch's cap; after it, book the real cost and estimate the next request. Near the task
 * cap the agent gets one wrap-up turn; at a cap the task pauses (`paused_budget`) with its
 * work kept until `raiseBudget` or its time runs out.
 *
 * Deterministic code only.
 */
import { condition, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { bookkeeping, crossWorkflow } from '../activity-profiles';
import { batchPrice, CACHE_TTL_5M_MS, priceOf } from '../../common/models';
import { toNanoUsd } from '../../common/money';
import { cacheGoneAfterMs } from '../task/cache-warmth';
import {
  attemptOutcome,
  interruptedCallCost,
  MODEL_RETRY,
  modelRetryDelayMs,
  nextInputTokens,
  pastWarning,
  taskCapDecision,
  tokensFromChars,
  worstCaseCostUsd,
} from './arithmetic';
import { budgetRaisedSignal, type TaskBudgetState } from './messages';
import { type AgentTaskInput } from '../task/messages';
import { type InterruptedCall, type TaskResult, type TaskStatus } from '../../contract';
import type { Notifier } from '../notify';
import { setTaskState, tellBatch } from '../questions/ask-human';

const { reserveAllowance } = proxyActivities<Activities>(crossWorkflow());
const { addNote } = proxyActivities<Activities>(bookkeeping);

export const WRAP_UP_NOTE =
  'Budget: this task is close to its spending cap, so this is your last turn. Finish up now: make sure what works is saved in the workspace, then call finish with a summary that says what is done and what is left.';

const money = (n: number) => `$${n.toFixed(4)}`;

/** The batch that grants this task's allowances: the parent unless the starter said none. */
export function allowanceGrantor(input: Pick<AgentTaskInput, 'allowanceFrom'>): string | undefined {
  return input.allowanceFrom === undefined ? workflowInfo().parent?.workflowId : (input.allowanceFrom ?? undefined);
}

export function newTaskBudget(promptChars: number): TaskBudgetState {
  return {
    allowanceUsd: 0,
    capRaisedUsd: 0,
    nextInputTokens: tokensFromChars(promptChars) + 500,
    warned: false,
    wrappedUp: false,
    refusals: 0,
  };
}

export interface TaskBudgetContext {
  state: TaskBudgetState;
  status: TaskStatus;
  /** Where the run's transcript is kept (workflows/task/messages.ts taskRunKey); default the workflow ID. */
  storeKey?: string;
  notifier: Notifier;
  notes: string[];
  model: string;
  maxTokens: number;
  /** The task's own cap (agent_config.max_cost_usd). */
  capUsd?: number;
  /** The batch workflow that grants allowances; none: the task's own cap alone bounds it. */
  allowanceFrom?: string;
  /** Time left before the task's timeout, for how long a pause may last. */
  remainingMs: () => number;
  /** The call goes through the Message Batches API, at its discount (common/models.json `batch`). @default 'messages' */
  api?: 'messages' | 'batch';
  /** How long the API keeps a 5-minute cache entry (tests scale it with the fake's clock). @default CACHE_TTL_5M_MS */
  cacheLifetimeMs?: number;
}

/**
 * Set on histories whose reservations price a call at the 1-hour cache write rate when it
 * follows a gap longer than the 5-minute cache lives (call-model.ts then writes at 1 hour).
 */
export const LONG_TTL_WORST_CASE_PATCH = 'worst-case-1h-cache-write';

/** A little earlier than the activity's own test, which runs after the reservation. */
const LONG_GAP_MS = CACHE_TTL_5M_MS - 30_000;

/**
 * Whether the next call will write its cache for an hour. Where the loop keeps the cache
 * warm (`cacheTouchedAt` set, workflows/task/cache-warmth.ts), this is the choice the call is then made
 * with; before, call-model.ts decided the same way from its own clock.
 */
function nextCallWritesForAnHour(b: TaskBudgetState, lifetimeMs?: number): boolean {
  if (b.longCacheTtl) return true;
  if (b.cacheTouchedAt !== undefined) {
    if (Date.now() - b.cacheTouchedAt <= cacheGoneAfterMs(lifetimeMs)) return false;
    b.longCacheTtl = true;
    return true;
  }
  if (b.lastAnsweredAt === undefined || Date.now() - b.lastAnsweredAt <= LONG_GAP_MS) return false;
  if (!patched(LONG_TTL_WORST_CASE_PATCH)) return false;
  b.longCacheTtl = true;
  return true;
}

/** Raises that arrived by signal and were not yet applied. */
export class RaiseInbox {
  readonly raises: { taskCapAddUsd?: number }[] = [];
  listen(): void {
    setHandler(budgetRaisedSignal, (r) => {
      this.raises.push(r ?? {});
    });
  }
}

/** `worstUsd`: the call's worst case that was reserved, which an attempt with an unknown outcome is booked at. */
export type Reservation =
  { go: true; waitedMs: number; worstUsd: number } | { go: false; end: Partial<TaskResult>; waitedMs: number };

/**
 * Reserves the worst case of turn `turn`'s call (of its `attempt`th attempt, when the
 * workflow counts attempts), pausing (and waiting for a raise) while a cap is in the way.
 * `spent` is what the task has booked so far, earlier attempts of this turn included.
 */
export async function reserveTurn(
  ctx: TaskBudgetContext,
  raises: RaiseInbox,
  turn: number,
  spent: number,
  attempt?: number,
): Promise<Reservation> {
  const listed = priceOf(ctx.model);
  const price = listed && ctx.api === 'batch' ? batchPrice(listed) : listed;
  // Never take an unknown cost as zero: without a price there is nothing to reserve against.
  if (!price)
    return {
      go: false,
      waitedMs: 0,
      end: {
        status: 'failed',
        error: `no price is known for model "${ctx.model}" (common/models.ts), so its cost cannot be reserved; nightshift will not spend money it cannot count`,
      },
    };
  const b = ctx.state;
  const batchId = ctx.allowanceFrom;
  let waitedMs = 0;
  for (;;) {
    let raiseHint: string | undefined;
    b.capRaisedUsd += raises.raises.splice(0).reduce((a, r) => a + (r.taskCapAddUsd ?? 0), 0);
    const worst = worstCaseCostUsd(b.nextInputTokens, ctx.maxTokens, price, {
      cacheTtl1h: nextCallWritesForAnHour(b, ctx.cacheLifetimeMs),
    });
    const cap = ctx.capUsd !== undefined ? ctx.capUsd + b.capRaisedUsd : undefined;
    const decision = taskCapDecision(spent, worst, cap);
    let blocked: string | undefined;
    if (decision === 'stop')
      blocked = `the next call may cost up to ${money(worst)} and the task has ${money(cap! - spent)} left of its max_cost_usd (${money(cap!)})`;
    else if (batchId && toNanoUsd(b.allowanceUsd) < toNanoUsd(spent + worst)) {
      const grant = await reserveAllowance({
        batchWorkflowId: batchId,
        request: {
          taskId: ctx.status.taskId,
          key: `${ctx.storeKey ?? ctx.status.workflowId}#${turn}${attempt !== undefined && attempt > 1 ? `.${attempt}` : ''}#${b.refusals}`,
          spentUsd: spent,
          needUsd: spent + worst,
        },
      });
      b.allowanceUsd = grant.allowanceUsd;
      if (!grant.granted) {
        b.refusals++;
        blocked =
          grant.refusedBy === 'day' && grant.day
            ? `the daily budget of ${grant.day.date} (UTC, ${money(grant.day.capUsd)} across the day's batches) is committed (${money(grant.day.committedUsd)} spent or reserved) and the next call may cost up to ${money(worst)}`
            : `the batch budget (${money(grant.capUsd)}) is committed (${money(grant.committedUsd)} spent or reserved) and the next call may cost up to ${money(worst)}`;
        raiseHint =
          grant.refusedBy === 'day' && grant.day
            ? `nightshift budget raise-day <usd> --date ${grant.day.date}`
            : undefined;
      }
    }
    if (!blocked) {
      if (decision === 'wrap_up' && !b.wrappedUp && turn > 1) {
        b.wrappedUp = true;
        // Sent with the previous turn's tool results, i.e. in this turn's request.
        await addNote({ workflowId: ctx.storeKey ?? ctx.status.workflowId, turn: turn - 1, text: WRAP_UP_NOTE });
        b.nextInputTokens += tokensFromChars(WRAP_UP_NOTE.length);
        ctx.notes.push(`near its max_cost_usd after ${money(spent)}: the agent was asked to wrap up`);
      }
      return { go: true, waitedMs, worstUsd: worst };
    }

    // Paused: the work stays in the sandbox until a raise, or the task's time runs out.
    setTaskState(ctx.status, 'paused_budget');
    ctx.status.activity = `paused by the budget: ${blocked}`;
    await tellBatch(ctx.status.taskId, 'paused_budget', null);
    ctx.notifier.send(
      'budget_exhausted',
      `budget-exhausted-${turn}-${b.refusals}`,
      `${ctx.status.taskId} paused by the budget`,
      `${ctx.status.taskId} spent ${money(spent)} and is paused: ${blocked}. Raise it with: ${raiseHint ?? `nightshift budget raise <batch> <usd>${decision === 'stop' ? ` --task ${ctx.status.taskId}` : ''}`}`,
    );
    const since = Date.now();
    const raised = await condition(() => raises.raises.length > 0, Math.max(0, ctx.remainingMs()));
    waitedMs += Date.now() - since;
    if (!raised)
      return {
        go: false,
        waitedMs,
        end: { status: 'paused_budget', error: `stopped by budget: ${blocked}; the work so far is kept` },
      };
    setTaskState(ctx.status, 'running');
    ctx.status.activity = 'budget raised: resuming';
    await tellBatch(ctx.status.taskId, 'running', null);
  }
}

/**
 * Set on histories whose model calls are retried by the workflow, one reservation per
 * attempt (issue 13): older histories replay the activity-retried call of one reservation.
 */
export const PER_ATTEMPT_BOOKING_PATCH = 'model-call-attempts-booked';

export interface BookedCallOptions<T> {
  turn: number;
  /** What the task has booked so far; grows with every interrupted attempt. */
  spent: () => number;
  /** Adds to what the task has booked (negative when a booking is replaced by a real cost). */
  book: (usd: number) => void;
  /** The task's interrupted calls, appended to here. */
  interrupted: InterruptedCall[];
  /** One attempt: the activity, run once (maximumAttempts 1). */
  call: (attempt: number) => Promise<T>;
  /** Told before each attempt, and after each interruption with what was booked. */
  say: (line: string) => void;
}

/**
 * One model call, retried here rather than by Temporal: each attempt reserves its worst
 * case first, and an attempt that failed without an answer but may have reached the API
 * (its worker died, it timed out, its connection dropped) is booked at what its heartbeats
 * showed, else at that worst case, before the next attempt reserves again. An answer that
 * names an earlier attempt (stored before that attempt's worker died) replaces what was
 * booked for it; its real cost is the caller's to book.
 */
export async function callWithBookedAttempts<T extends { attempt?: number }>(
  ctx: TaskBudgetContext,
  raises: RaiseInbox,
  o: BookedCallOptions<T>,
): Promise<{ result: T; waitedMs: number } | { result?: undefined; end: Partial<TaskResult>; waitedMs: number }> {
  let waitedMs = 0;
  for (let attempt = 1; ; attempt++) {
    const reserved = await reserveTurn(ctx, raises, o.turn, o.spent(), attempt);
    waitedMs += reserved.waitedMs;
    if (!reserved.go) return { end: reserved.end, waitedMs };
    o.say(`calling ${ctx.model}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
    try {
      const result = await o.call(attempt);
      const earlier =
        result.attempt !== undefined && result.attempt !== attempt
          ? o.interrupted.findIndex((c) => c.turn === o.turn && c.attempt === result.attempt)
          : -1;
      if (earlier >= 0) o.book(-o.interrupted.splice(earlier, 1)[0].bookedUsd);
      return { result, waitedMs };
    } catch (err) {
      const failed = attemptOutcome(err);
      if (failed.mayBeBilled) {
        // reserveTurn refused an unpriced model, so a price is known here.
        const call: InterruptedCall = {
          turn: o.turn,
          attempt,
          ...interruptedCallCost(failed.progress, ctx.maxTokens, priceOf(ctx.model)!, reserved.worstUsd),
        };
        o.interrupted.push(call);
        o.book(call.bookedUsd);
        o.say(`attempt ${attempt} was cut off; booked ${money(call.bookedUsd)} (${call.basis.replace('_', ' ')})`);
      }
      if (!failed.retryable || attempt >= MODEL_RETRY.maxAttempts) throw err;
      await sleep(modelRetryDelayMs(attempt, failed.retryAfterMs));
    }
  }
}

/**
 * Whether a keep-alive (workflows/task/cache-warmth.ts) fits what the task may spend: its worst case (the
 * cache already gone, so the whole prompt written, and its one output token) within the
 * task's cap and within what the batch already granted. A keep-alive never asks the batch
 * for more and never pauses the task: when it does not fit, the cache is let go.
 */
export function keepAliveFits(ctx: TaskBudgetContext, spent: number, contextTokens: number): boolean {
  const price = priceOf(ctx.model);
  if (!price) return false;
  const worst = worstCaseCostUsd(contextTokens, 1, price);
  const cap = ctx.capUsd !== undefined ? ctx.capUsd + ctx.state.capRaisedUsd : undefined;
  if (cap !== undefined && toNanoUsd(spent + worst) > toNanoUsd(cap)) return false;
  if (ctx.allowanceFrom && toNanoUsd(spent + worst) > toNanoUsd(ctx.state.allowanceUsd)) return false;
  return true;
}

/** Books a finished call and estimates the next request; sends the 75% warning once. */
export function bookTurn(
  ctx: TaskBudgetContext,
  spent: number,
  contextTokens: number,
  outputTokens: number,
  addedChars: number,
): void {
  const b = ctx.state;
  b.nextInputTokens = nextInputTokens(contextTokens, outputTokens, addedChars);
  b.lastAnsweredAt = Date.now();
  const cap = ctx.capUsd !== undefined ? ctx.capUsd + b.capRaisedUsd : undefined;
  if (!b.warned && pastWarning(spent, cap)) {
    b.warned = true;
    const line = `spent ${money(spent)}, past 75% of its max_cost_usd (${money(cap!)})`;
    ctx.notes.push(line);
    ctx.notifier.send(
      'budget_warning',
      'budget-warning-task',
      `${ctx.status.taskId}: budget warning`,
      `${ctx.status.taskId} ${line}.`,
    );
  }
}
