/**
 * The batch's results by reference (BATCH_RESULTS_BY_REFERENCE_PATCH): what a run carries
 * into the next instead of every ended task's result. Each result is in the state store
 * (recordTaskResults); the next run needs only whether a task ended, in what state, and
 * whether it delivered a branch a dependent starts from, so one character a task does.
 *
 * Deterministic code only.
 */
import type { BatchBudgetLedger } from '../budget/messages';
import type { TaskResult, TaskState, TokenUsage } from '../../contract';
import { NO_TOKENS } from '../../contract';
import { fromNanoUsd, roundUsd, toNanoUsd } from '../../common/money';

/** One character per state; a succeeded task that delivered a branch and commit is `S`. */
const CODE: Record<TaskState, string> = {
  pending: 'n',
  running: 'r',
  succeeded: 's',
  failed: 'f',
  incomplete: 'i',
  halted: 'h',
  cancelled: 'c',
  skipped: 'k',
  waiting_for_answer: 'w',
  paused_budget: 'p',
  stuck: 't',
};
const DELIVERED = 'S';
/** No result yet. */
const NONE = '.';
const STATE_OF = new Map<string, TaskState>([
  ...Object.entries(CODE).map(([state, code]) => [code, state as TaskState] as const),
  [DELIVERED, 'succeeded'],
]);

/** Whether a dependent starts from this task's work: dependencyBranches reads its result only then. */
export const deliveredBranch = (r: Pick<TaskResult, 'branch' | 'commit'>): boolean => Boolean(r.branch && r.commit);

export function stateCode(r: TaskResult): string {
  return r.status === 'succeeded' && deliveredBranch(r) ? DELIVERED : CODE[r.status];
}

/** The states of the tasks that ended in earlier runs, by position in the spec. */
export class EndedStates {
  private readonly codes: string;

  constructor(taskCount: number, packed?: string) {
    // A carried string of another length would misplace every state: the spec it was packed against is not this one.
    if (packed !== undefined && packed.length !== taskCount)
      throw new Error(`carried task states cover ${packed.length} tasks, the spec has ${taskCount}`);
    this.codes = packed ?? NONE.repeat(taskCount);
  }

  state(position: number): TaskState | undefined {
    return STATE_OF.get(this.codes[position]);
  }

  delivered(position: number): boolean {
    return this.codes[position] === DELIVERED;
  }

  /** The states to carry on: this run's results over the earlier runs'. */
  pack(ids: readonly string[], results: Readonly<Record<string, TaskResult>>): string {
    return ids.map((id, i) => (results[id] ? stateCode(results[id]) : this.codes[i])).join('');
  }
}

export interface ResultTotals {
  costUsd: number;
  tokens: TokenUsage;
  turns: number;
}

export const NO_TOTALS: ResultTotals = { costUsd: 0, tokens: NO_TOKENS, turns: 0 };

/** Totals plus more totals (what sumResults gives for the results a run still holds). */
export function addTotals(a: ResultTotals, b: ResultTotals): ResultTotals {
  return {
    costUsd: roundUsd(a.costUsd + b.costUsd),
    turns: a.turns + b.turns,
    tokens: {
      input: a.tokens.input + b.tokens.input,
      output: a.tokens.output + b.tokens.output,
      cacheWrite: a.tokens.cacheWrite + b.tokens.cacheWrite,
      cacheRead: a.tokens.cacheRead + b.tokens.cacheRead,
    },
  };
}

/**
 * The ledger entry that holds what tasks ended in earlier runs spent. It is not a task ID
 * (those are letters, digits, `.`, `_`, `-`), so no task's request can land on it; the
 * budget's sums (committedUsd, spentUsd) count it like any task that spent and holds that much.
 */
export const ENDED_TASKS_LEDGER_KEY = '(tasks ended in earlier runs)';

/**
 * The ledger with every ended task folded into ENDED_TASKS_LEDGER_KEY and its last grant
 * dropped: an ended task asks for nothing again, and a ledger of 10,000 tasks carried
 * entry by entry was a third of a megabyte.
 */
export function compactLedger(ledger: BatchBudgetLedger, ended: readonly string[]): BatchBudgetLedger {
  const tasks = { ...ledger.tasks };
  const lastGrant = { ...ledger.lastGrant };
  const folded = tasks[ENDED_TASKS_LEDGER_KEY] ?? { spentUsd: 0, heldUsd: 0 };
  let spentNano = toNanoUsd(folded.spentUsd);
  for (const id of ended) {
    const t = tasks[id];
    delete lastGrant[id];
    if (!t) continue;
    // An ended task holds what it spent (settleTask).
    spentNano += toNanoUsd(Math.max(t.spentUsd, t.heldUsd));
    delete tasks[id];
  }
  if (spentNano > 0 || tasks[ENDED_TASKS_LEDGER_KEY])
    tasks[ENDED_TASKS_LEDGER_KEY] = { spentUsd: fromNanoUsd(spentNano), heldUsd: fromNanoUsd(spentNano) };
  return { ...ledger, tasks, lastGrant };
}

/** Characters of JSON per recordTaskResults call: well under the SDK's 512 KiB payload warning. */
export const RECORD_CHARS = 256 * 1024;

/** Splits ended results into calls of at most RECORD_CHARS of JSON (a larger single result goes alone). */
export function recordBatches(results: readonly TaskResult[]): TaskResult[][] {
  const out: TaskResult[][] = [];
  let chars = 0;
  for (const r of results) {
    const size = JSON.stringify(r).length + 1;
    if (out.length === 0 || (chars + size > RECORD_CHARS && out[out.length - 1].length > 0)) {
      out.push([]);
      chars = 0;
    }
    out[out.length - 1].push(r);
    chars += size;
  }
  return out;
}

/** A night that continued as new lists its tasks' results in its BatchResult only up to this many; beyond, they are in the store and the report. */
export const INLINE_RESULTS_MAX_TASKS = 200;
