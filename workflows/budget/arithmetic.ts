/**
 * Budget arithmetic (design.md, "Budgets are workflow state, and are never exceeded"),
 * pure so the batch, the task and the unit tests share it.
 *
 * Money is reserved before it is spent. The batch's ledger holds, per task, what it spent
 * (booked from the API's usage) and what it holds (its allowance). A task asks for an
 * allowance of `spent + worst case of its next call`; the batch grants it only if every
 * task's `max(spent, held)` still fits the cap. A task never starts a call its allowance
 * does not cover, so booked spend can never pass the cap, however many tasks run at once.
 *
 * Amounts are compared in nano-dollars (integers) so float noise cannot let a sum slip
 * past a cap.
 */
import { ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/common';
import { FailureType, ModelNotConfigured, ModelRequestInvalid, NON_RETRYABLE_ERRORS } from '../../common/errors';
import { costOf, ratesFor, type ModelPrice } from '../../common/models';
import { fromNanoUsd, toNanoUsd } from '../../common/money';
import { domainError } from '../domain-error';
import type {
  AllowanceGrant,
  AllowanceRequest,
  BatchBudgetLedger,
  DailyAllowanceRequest,
  DailyGrant,
  DailyLedgerState,
} from './messages';
import type { InterruptedCall, TokenUsage } from '../../contract';

/** The warning threshold, a fraction of the cap. */
export const WARNING_FRACTION = 0.75;

/**
 * Conservative input tokens for a request of `chars` characters. English prose runs about
 * 4 characters a token and code about 3; 2 leaves room for dense text.
 */
export function tokensFromChars(chars: number): number {
  return Math.ceil(Math.max(0, chars) / 2);
}

/** What else decides a call's worst case besides its size. */
export interface WorstCaseTerms {
  /** The call writes its cache with the 1-hour TTL, whose rate is above the 5-minute one. */
  cacheTtl1h?: boolean;
  /**
   * Thinking tokens the request allows beyond max_tokens. Adaptive thinking (the current
   * family's default, which is what nightshift sends) counts inside max_tokens, so this is 0
   * unless a request sets an interleaved-thinking budget above max_tokens.
   */
  thinkingTokens?: number;
}

/**
 * The most one call can cost: every input token at the dearest input rate (a cache write
 * costs more than plain input, a 1-hour write more than a 5-minute one), and all of
 * max_tokens (thinking included) plus any thinking budget beyond it as output. Rounded up.
 */
export function worstCaseCostUsd(
  inputTokens: number,
  maxTokens: number,
  price: ModelPrice,
  terms: WorstCaseTerms = {},
): number {
  const prompt = Math.min(inputTokens, price.contextWindow);
  // A model priced by prompt size (common/models.json tiers) pays its higher rates on a long prompt.
  const r = ratesFor(price, prompt);
  const inputRate = Math.max(
    r.input,
    terms.cacheTtl1h ? Math.max(r.cacheWrite, r.cacheWrite1h) : r.cacheWrite,
    r.cacheRead,
  );
  const micro = prompt * inputRate + (maxTokens + Math.max(0, terms.thinkingTokens ?? 0)) * r.output;
  return Math.ceil(micro * 1000) / 1e9;
}

/**
 * Simple mode's repository snapshot (activities/task/simple.ts) is at most this many characters
 * of file sections plus this many of file listing, so the workflow can bound its one request
 * (the prompt it was told, plus these, plus the rules) instead of reserving a whole window.
 */
export const SIMPLE_SNAPSHOT_CONTENT_CHARS = 120_000;
export const SIMPLE_SNAPSHOT_LISTING_CHARS = 30_000;
/** Simple mode's rules, the snapshot's headings and the closing request, with room to spare. */
export const SIMPLE_REQUEST_OVERHEAD_CHARS = 4_000;

/** Unset model_api sends simple mode through the Batches API only when the task's timeout leaves this long to wait for it. */
export const BATCH_DEFAULT_MIN_WAIT_MS = 60 * 60_000;
/** Kept back from the task's timeout for the Messages API call a batch that did not end in time falls back to. */
export const BATCH_FALLBACK_MARGIN_MS = 30 * 60_000;

/** When a simple-mode task stops waiting for its batch: its start plus its timeout, less the time a fallback call needs. */
export function batchWaitUntil(startedAt: number, timeoutMs: number): number {
  return startedAt + timeoutMs - Math.min(BATCH_FALLBACK_MARGIN_MS, timeoutMs / 4);
}

/** Whether a simple-mode task's call goes through the Message Batches API: as its model_api says, else when it has time to wait. */
export function simpleModeUsesBatch(
  modelApi: 'batch' | 'messages' | undefined,
  waitUntil: number,
  now: number,
): boolean {
  return modelApi === 'batch' || (modelApi === undefined && waitUntil - now >= BATCH_DEFAULT_MIN_WAIT_MS);
}

/** What the next request will hold: this one's context, its reply, and what was added since (tool results, answers, notes). */
export function nextInputTokens(contextTokens: number, outputTokens: number, addedChars: number): number {
  return contextTokens + outputTokens + tokensFromChars(addedChars) + 200;
}

export function newLedger(capUsd: number): BatchBudgetLedger {
  return { capUsd, tasks: {}, warned: false, lastGrant: {} };
}

/** Spent plus held by every task: what the cap must cover. */
export function committedUsd(l: BatchBudgetLedger): number {
  let n = 0;
  for (const t of Object.values(l.tasks)) n += Math.max(toNanoUsd(t.spentUsd), toNanoUsd(t.heldUsd));
  return fromNanoUsd(n);
}

export function spentUsd(l: BatchBudgetLedger): number {
  return fromNanoUsd(Object.values(l.tasks).reduce((a, t) => a + toNanoUsd(t.spentUsd), 0));
}

/**
 * Grants or refuses `req` and updates the ledger. A repeated key gets the answer it got
 * before (the task's activity may be retried). A refusal returns the task's unused
 * allowance to the batch, so paused tasks hold nothing.
 */
export function requestAllowance(l: BatchBudgetLedger, req: AllowanceRequest): AllowanceGrant {
  const last = l.lastGrant[req.taskId];
  if (last?.key === req.key) return last.grant;
  const t = (l.tasks[req.taskId] ??= { spentUsd: 0, heldUsd: 0 });
  t.spentUsd = Math.max(t.spentUsd, req.spentUsd);
  const mine = Math.max(toNanoUsd(t.spentUsd), toNanoUsd(t.heldUsd));
  const others = toNanoUsd(committedUsd(l)) - mine;
  const want = Math.max(toNanoUsd(req.needUsd), toNanoUsd(t.spentUsd));
  const granted = others + want <= toNanoUsd(l.capUsd);
  t.heldUsd = granted ? fromNanoUsd(want) : t.spentUsd;
  const grant: AllowanceGrant = { granted, allowanceUsd: t.heldUsd, capUsd: l.capUsd, committedUsd: committedUsd(l) };
  l.lastGrant[req.taskId] = { key: req.key, grant };
  return grant;
}

/** A task ended: book its final cost and release whatever it still held. */
export function settleTask(l: BatchBudgetLedger, taskId: string, finalSpentUsd: number): void {
  const t = (l.tasks[taskId] ??= { spentUsd: 0, heldUsd: 0 });
  t.spentUsd = Math.max(t.spentUsd, finalSpentUsd);
  t.heldUsd = t.spentUsd;
}

/** True once, when spending first reaches WARNING_FRACTION of the cap. */
export function takeWarning(l: BatchBudgetLedger): boolean {
  if (l.warned || toNanoUsd(spentUsd(l)) < toNanoUsd(l.capUsd * WARNING_FRACTION)) return false;
  l.warned = true;
  return true;
}

/** What the task should do before its next call, against its own cap. */
export type TaskCapDecision = 'go' | 'wrap_up' | 'stop';

/**
 * `stop` when the next call's worst case does not fit under the cap; `wrap_up` when it
 * fits but a second one would not (so this is the last turn); else `go`.
 */
export function taskCapDecision(spent: number, worstCase: number, capUsd: number | undefined): TaskCapDecision {
  if (capUsd === undefined) return 'go';
  if (toNanoUsd(spent) + toNanoUsd(worstCase) > toNanoUsd(capUsd)) return 'stop';
  if (toNanoUsd(spent) + 2 * toNanoUsd(worstCase) > toNanoUsd(capUsd)) return 'wrap_up';
  return 'go';
}

/** True when `spent` has reached WARNING_FRACTION of `capUsd`. */
export function pastWarning(spent: number, capUsd: number | undefined): boolean {
  return capUsd !== undefined && toNanoUsd(spent) >= toNanoUsd(capUsd * WARNING_FRACTION);
}

/**
 * Takes back a grant the day's ledger refused (or could not be asked about): the task holds
 * only what it spent. `refusal` is recorded as the answer to `key`; without one the key is
 * forgotten, so a retry asks again.
 */
export function revokeAllowance(
  l: BatchBudgetLedger,
  taskId: string,
  key: string,
  refusal?: AllowanceGrant,
): AllowanceGrant | undefined {
  const t = (l.tasks[taskId] ??= { spentUsd: 0, heldUsd: 0 });
  t.heldUsd = t.spentUsd;
  if (!refusal) {
    if (l.lastGrant[taskId]?.key === key) delete l.lastGrant[taskId];
    return undefined;
  }
  const grant: AllowanceGrant = {
    ...refusal,
    granted: false,
    allowanceUsd: t.heldUsd,
    capUsd: l.capUsd,
    committedUsd: committedUsd(l),
  };
  l.lastGrant[taskId] = { key, grant };
  return grant;
}

/*
 * Per-attempt money (design.md: "a call attempt whose outcome is unknown ... is booked at
 * what is known of it, else its worst case"). The API bills a request it accepted even when
 * the client died before reading the answer, so every attempt that may have reached it is
 * counted before the next one reserves again.
 */

/**
 * What a model call attempt knows of itself, sent as its heartbeat details and with the
 * failure it ends in. `usage` appears once the API has accepted the request (message_start):
 * its input side is then exact; `complete` once the whole answer arrived.
 */
export interface CallProgress {
  usage?: TokenUsage;
  complete?: boolean;
}

/** The failure type of an attempt that may have reached the API and ended without an answer. */
export const MODEL_CALL_INTERRUPTED = 'ModelCallInterrupted';

/**
 * Failure types that mean the API answered with an error status (or was never reached):
 * nothing was billed for the attempt.
 */
export const UNBILLED_MODEL_FAILURES: readonly string[] = [
  FailureType.ModelUnavailable,
  ModelRequestInvalid.name,
  ModelNotConfigured.name,
];

export function isCallProgress(v: unknown): v is CallProgress {
  if (!v || typeof v !== 'object') return false;
  const u = (v as CallProgress).usage;
  if (u === undefined) return true;
  return (
    typeof u === 'object' &&
    u !== null &&
    (['input', 'output', 'cacheWrite', 'cacheRead'] as const).every(
      (k) => typeof u[k] === 'number' && Number.isFinite(u[k]) && u[k] >= 0,
    )
  );
}

/**
 * What to book for an attempt whose answer never reached the workflow. A complete answer's
 * usage is its cost. With only message_start seen, the input side is exact but the output
 * is not: the API may have generated (and billed) up to max_tokens after the client was
 * gone, so the output is booked at max_tokens. Knowing nothing, the attempt's reserved
 * worst case. Rounded up to the nano-dollar.
 */
export function interruptedCallCost(
  progress: CallProgress | undefined,
  maxTokens: number,
  price: ModelPrice,
  worstCaseUsd: number,
): Pick<InterruptedCall, 'bookedUsd' | 'basis'> {
  const u = progress?.usage;
  if (!u) return { bookedUsd: worstCaseUsd, basis: 'worst_case' };
  if (progress.complete) return { bookedUsd: costOf(u, price), basis: 'usage' };
  const micro = costOf({ ...u, output: Math.max(u.output, maxTokens) }, price) * 1e9;
  return { bookedUsd: Math.ceil(micro) / 1e9, basis: 'input_known' };
}

/** How a failed model call attempt ended, as far as money and retrying are concerned. */
export interface AttemptOutcome {
  /** It may have been billed: book `progress` or the worst case. */
  mayBeBilled: boolean;
  progress?: CallProgress;
  retryable: boolean;
  /** The API's retry-after, when it sent one. */
  retryAfterMs?: number;
}

/**
 * Reads a failed callModel attempt. Only an HTTP error status from the API (or a request
 * that never left) is known to be unbilled; a timeout (the worker died, the call hung) or
 * any other failure may have been billed, and its last heartbeat says how much is known.
 */
export function attemptOutcome(err: unknown): AttemptOutcome {
  const cause = domainError(err).error;
  if (cause instanceof ApplicationFailure) {
    const type = cause.type ?? '';
    const detail: unknown = cause.details?.[0];
    const retryable = !cause.nonRetryable && !NON_RETRYABLE_ERRORS.includes(type);
    if (UNBILLED_MODEL_FAILURES.includes(type)) {
      const after = (detail as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
      return { mayBeBilled: false, retryable, ...(typeof after === 'number' ? { retryAfterMs: after } : {}) };
    }
    return {
      mayBeBilled: true,
      retryable,
      ...(type === MODEL_CALL_INTERRUPTED && isCallProgress(detail) ? { progress: detail } : {}),
    };
  }
  if (cause instanceof TimeoutFailure)
    return {
      mayBeBilled: true,
      retryable: true,
      ...(isCallProgress(cause.lastHeartbeatDetails) ? { progress: cause.lastHeartbeatDetails } : {}),
    };
  if (cause instanceof CancelledFailure) return { mayBeBilled: true, retryable: false };
  return { mayBeBilled: true, retryable: true };
}

/** Exponential backoff of the workflow's own model-call retries, or the API's retry-after when it sent one. */
export function modelRetryDelayMs(failedAttempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0)
    return Math.min(retryAfterMs, MODEL_RETRY.maxRetryAfterMs);
  return Math.min(MODEL_RETRY.initialMs * MODEL_RETRY.coefficient ** (failedAttempt - 1), MODEL_RETRY.maxIntervalMs);
}

/** The model call's retry policy, owned by the workflow so each attempt is reserved and booked. */
export const MODEL_RETRY = {
  maxAttempts: 10,
  initialMs: 2000,
  coefficient: 2,
  maxIntervalMs: 120_000,
  maxRetryAfterMs: 600_000,
} as const;

/*
 * The daily cap (a daily budget that resets at midnight UTC) is one more ledger
 * of the same arithmetic, per UTC day, across every batch. Its holders are task workflow
 * IDs. A task still running at midnight reserves from the new day's ledger from then on;
 * what it spent before its first request of the day was reserved (and is counted) on an
 * earlier day, so the new day counts from that base.
 */

export function newDailyLedger(date: string): DailyLedgerState {
  return { date, ledger: newLedger(0), bases: {}, raisedUsd: 0, paused: [] };
}

/**
 * Grants or refuses a task's allowance against the day: granted only while everything
 * spent or held this day, by every batch, fits the requesting batch's daily cap plus the
 * day's raises. Idempotent by `req.key` like requestAllowance.
 */
export function requestDaily(d: DailyLedgerState, req: DailyAllowanceRequest): DailyGrant {
  const base = (d.bases[req.holder] ??= req.spentUsd);
  const last = d.ledger.lastGrant[req.holder];
  if (last?.key === req.key) return { ...last.grant, date: d.date };
  d.ledger.capUsd = req.capUsd + d.raisedUsd;
  const g = requestAllowance(d.ledger, {
    taskId: req.holder,
    key: req.key,
    spentUsd: fromNanoUsd(toNanoUsd(req.spentUsd) - toNanoUsd(base)),
    needUsd: fromNanoUsd(toNanoUsd(req.needUsd) - toNanoUsd(base)),
  });
  d.paused = d.paused.filter((h) => h !== req.holder);
  if (!g.granted) d.paused.push(req.holder);
  const warn = takeWarning(d.ledger);
  return { ...g, date: d.date, ...(warn ? { warn } : {}) };
}

/** A task ended having spent `totalSpentUsd` over its life: book this day's part, release the rest. */
export function settleDaily(d: DailyLedgerState, holder: string, totalSpentUsd: number): void {
  const base = d.bases[holder];
  if (base === undefined) return;
  settleTask(d.ledger, holder, fromNanoUsd(Math.max(0, toNanoUsd(totalSpentUsd) - toNanoUsd(base))));
  d.paused = d.paused.filter((h) => h !== holder);
}

/** Adds to the day's cap; returns the tasks it paused, which should now try again. */
export function raiseDaily(d: DailyLedgerState, addUsd: number): string[] {
  d.raisedUsd += addUsd;
  d.ledger.capUsd += addUsd;
  if (toNanoUsd(spentUsd(d.ledger)) < toNanoUsd(d.ledger.capUsd * WARNING_FRACTION)) d.ledger.warned = false;
  return d.paused.splice(0);
}
