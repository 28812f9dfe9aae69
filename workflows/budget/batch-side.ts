/**
 * The batch's side of questions and budgets: the ledger that grants allowances
 * (`reserveBudget`, sent by tasks through an activity), `raiseBudget`, and what running
 * tasks tell it (`taskEvent`: a question opened or closed, a pause), so the batch's
 * `status` shows open questions and paused tasks.
 *
 * Deterministic code only.
 */
import { getExternalWorkflowHandle, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { bookkeeping, crossWorkflow } from '../activity-profiles';
import { roundUsd } from '../../common/money';
import {
  committedUsd,
  newLedger,
  requestAllowance,
  revokeAllowance,
  settleTask,
  spentUsd,
  takeWarning,
  WARNING_FRACTION,
} from './arithmetic';
import {
  ledgerDate,
  raiseBudgetUpdate,
  taskWorkflowId,
  type BatchStatus,
  type OpenQuestion,
  type TaskState,
} from '../../contract';
import {
  budgetRaisedSignal,
  type AllowanceGrant,
  type AllowanceRequest,
  reserveBudgetUpdate,
  type BatchBudgetLedger,
} from './messages';
import { taskEventSignal } from '../task/messages';
import type { Notifier } from '../notify';

const money = (n: number) => `$${n.toFixed(2)}`;

const { reserveDaily } = proxyActivities<Activities>(crossWorkflow());
const { settleDaily } = proxyActivities<Activities>(bookkeeping);

export class BatchLive {
  readonly ledger: BatchBudgetLedger;
  /** Open question per running task. */
  readonly questions = new Map<string, OpenQuestion>();
  /** What a running task last said it is doing (waiting_for_answer, paused_budget, running). */
  readonly states = new Map<string, TaskState>();
  /** Requests waiting for the day's ledger, by key, so a retried request joins the first. */
  private readonly asking = new Map<string, Promise<AllowanceGrant>>();
  /** The UTC day each task last reserved from, where its spend is settled when it ends. */
  private readonly days = new Map<string, string>();
  private readonly settling: Promise<void>[] = [];

  constructor(
    private readonly o: {
      batchId: string;
      capUsd: number;
      /** The daily cap across the day's batches (daily_max_cost_usd), when there is one. */
      dailyCapUsd?: number;
      ledger?: BatchBudgetLedger;
      taskIds: Set<string>;
      isRunning: (taskId: string) => boolean;
      notifier: Notifier;
      notes: string[];
      changed: () => void;
    },
  ) {
    this.ledger = o.ledger ?? newLedger(o.capUsd);
  }

  listen(): void {
    const { o } = this;
    setHandler(reserveBudgetUpdate, (req) => this.reserve(req), {
      validator: (req) => {
        if (!o.taskIds.has(req.taskId)) throw new Error(`no task "${req.taskId}" in batch ${o.batchId}`);
      },
    });

    setHandler(
      raiseBudgetUpdate,
      async ({ addUsd, taskId }) => {
        const resumed: string[] = [];
        if (taskId === undefined) {
          this.ledger.capUsd += addUsd;
          if (spentUsd(this.ledger) < this.ledger.capUsd * WARNING_FRACTION) this.ledger.warned = false;
        }
        // A batch raise wakes every task paused by the budget (one paused by its own cap re-checks and pauses again).
        for (const [id, state] of this.states) {
          if (state !== 'paused_budget' || !o.isRunning(id) || (taskId !== undefined && id !== taskId)) continue;
          resumed.push(id);
        }
        if (taskId !== undefined && !resumed.includes(taskId) && o.isRunning(taskId)) resumed.push(taskId);
        for (const id of resumed) {
          await getExternalWorkflowHandle(taskWorkflowId(o.batchId, id))
            .signal(budgetRaisedSignal, taskId !== undefined ? { taskCapAddUsd: addUsd } : {})
            .catch(() => undefined); // it ended meanwhile
        }
        o.changed();
        return { capUsd: this.ledger.capUsd, resumed };
      },
      {
        validator: ({ addUsd, taskId }) => {
          if (typeof addUsd !== 'number' || !Number.isFinite(addUsd) || addUsd <= 0)
            throw new Error('addUsd must be a number of US dollars above 0');
          if (taskId !== undefined && !o.taskIds.has(taskId))
            throw new Error(`no task "${taskId}" in batch ${o.batchId}`);
        },
      },
    );

    setHandler(taskEventSignal, ({ taskId, status, question }) => {
      if (!o.isRunning(taskId)) return;
      this.states.set(taskId, status);
      if (question) this.questions.set(taskId, question);
      else this.questions.delete(taskId);
      o.changed();
    });
  }

  /**
   * Grants a task's allowance against the batch cap and then, when there is a daily cap,
   * against the day's ledger; the day refusing takes the batch's grant back.
   */
  private reserve(req: AllowanceRequest): AllowanceGrant | Promise<AllowanceGrant> {
    const asking = this.asking.get(req.key);
    if (asking) return asking;
    const repeat = this.ledger.lastGrant[req.taskId]?.key === req.key;
    const grant = requestAllowance(this.ledger, req);
    const { dailyCapUsd } = this.o;
    if (repeat || !grant.granted || dailyCapUsd === undefined) return this.granted(req, grant);
    const date = ledgerDate(Date.now());
    const holder = taskWorkflowId(this.o.batchId, req.taskId);
    const before = this.days.get(req.taskId);
    // Past midnight: the old day books what the task spent so far (all of it reserved there).
    if (before !== undefined && before !== date) this.settle(before, holder, req.spentUsd);
    const ask = (async () => {
      try {
        const day = await reserveDaily({
          date,
          request: { holder, key: req.key, spentUsd: req.spentUsd, needUsd: req.needUsd, capUsd: dailyCapUsd },
        });
        this.days.set(req.taskId, date);
        if (day.warn)
          this.warn(
            `the batches of ${date} (UTC) spent past ${WARNING_FRACTION * 100}% of the daily cap (${money(day.capUsd)})`,
            `budget-warning-day-${date}-${day.capUsd}`,
          );
        const dayState = { date, capUsd: day.capUsd, committedUsd: day.committedUsd };
        if (day.granted) return this.granted(req, { ...grant, day: dayState });
        return this.granted(
          req,
          revokeAllowance(this.ledger, req.taskId, req.key, { ...grant, refusedBy: 'day', day: dayState })!,
        );
      } catch (err) {
        revokeAllowance(this.ledger, req.taskId, req.key); // a retry asks the day again
        throw err;
      } finally {
        this.asking.delete(req.key);
      }
    })();
    this.asking.set(req.key, ask);
    return ask;
  }

  private granted(req: AllowanceRequest, grant: AllowanceGrant): AllowanceGrant {
    if (!grant.granted) this.states.set(req.taskId, 'paused_budget');
    if (takeWarning(this.ledger))
      this.warn(
        `the batch spent ${money(spentUsd(this.ledger))}, past ${WARNING_FRACTION * 100}% of its max_cost_usd (${money(this.ledger.capUsd)})`,
        `budget-warning-${this.ledger.capUsd}`,
      );
    this.o.changed();
    return grant;
  }

  private warn(line: string, key: string): void {
    this.o.notes.push(line);
    this.o.notifier.send('budget_warning', key, `${this.o.batchId}: budget warning`, `${line}.`);
  }

  /** A task ended: book its cost, release what it held, forget its live state. */
  taskEnded(taskId: string, costUsd: number): void {
    const date = this.days.get(taskId);
    if (date !== undefined) this.settle(date, taskWorkflowId(this.o.batchId, taskId), costUsd);
    this.days.delete(taskId);
    settleTask(this.ledger, taskId, costUsd);
    this.states.delete(taskId);
    this.questions.delete(taskId);
  }

  private settle(date: string, holder: string, spentUsd: number): void {
    // Best effort: a ledger that cannot be told keeps the task's last reservation, which only errs on the safe side.
    this.settling.push(settleDaily({ date, holder, spentUsd }).catch(() => undefined));
  }

  /** Waits for settlements sent to the day's ledger (before the batch ends or continues as new). */
  async flush(): Promise<void> {
    await Promise.all(this.settling.splice(0));
  }

  budget(): NonNullable<BatchStatus['budget']> {
    const spent = spentUsd(this.ledger);
    return {
      capUsd: this.ledger.capUsd,
      spentUsd: roundUsd(spent),
      reservedUsd: roundUsd(committedUsd(this.ledger) - spent),
      warned: this.ledger.warned,
    };
  }

  /** Open questions, oldest first, with their age at `now`. */
  openQuestions(now: number): NonNullable<BatchStatus['questions']> {
    return [...this.questions.values()]
      .sort((a, b) => a.askedAt - b.askedAt)
      .map((q) => ({ ...q, ageMs: now - q.askedAt }));
  }
}
