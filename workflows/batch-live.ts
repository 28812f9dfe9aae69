/**
 * The batch's side of questions and budgets: the ledger that grants allowances
 * (`reserveBudget`, sent by tasks through an activity), `raiseBudget`, and what running
 * tasks tell it (`taskEvent`: a question opened or closed, a pause), so the batch's
 * `status` shows open questions and paused tasks.
 *
 * Deterministic code only.
 */
import { getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import { committedUsd, newLedger, requestAllowance, settleTask, spentUsd, takeWarning, WARNING_FRACTION } from './budget';
import {
  budgetRaisedSignal,
  raiseBudgetUpdate,
  reserveBudgetUpdate,
  taskEventSignal,
  taskWorkflowId,
  type BatchBudgetLedger,
  type BatchStatus,
  type OpenQuestion,
  type TaskState,
} from './contract';
import type { Notifier } from './notify';

const money = (n: number) => `$${n.toFixed(2)}`;

export class BatchLive {
  readonly ledger: BatchBudgetLedger;
  /** Open question per running task. */
  readonly questions = new Map<string, OpenQuestion>();
  /** What a running task last said it is doing (waiting_for_answer, paused_budget, running). */
  readonly states = new Map<string, TaskState>();

  constructor(
    private readonly o: {
      batchId: string;
      capUsd: number;
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
    setHandler(reserveBudgetUpdate, (req) => {
      const grant = requestAllowance(this.ledger, req);
      if (!grant.granted) this.states.set(req.taskId, 'paused_budget');
      if (takeWarning(this.ledger)) {
        const line = `the batch spent ${money(spentUsd(this.ledger))}, past ${WARNING_FRACTION * 100}% of its max_cost_usd (${money(this.ledger.capUsd)})`;
        o.notes.push(line);
        o.notifier.send('budget_warning', `budget-warning-${this.ledger.capUsd}`, `${o.batchId}: budget warning`, `${line}.`);
      }
      o.changed();
      return grant;
    }, {
      validator: (req) => {
        if (!o.taskIds.has(req.taskId)) throw new Error(`no task "${req.taskId}" in batch ${o.batchId}`);
      },
    });

    setHandler(raiseBudgetUpdate, async ({ addUsd, taskId }) => {
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
    }, {
      validator: ({ addUsd, taskId }) => {
        if (typeof addUsd !== 'number' || !Number.isFinite(addUsd) || addUsd <= 0) throw new Error('addUsd must be a number of US dollars above 0');
        if (taskId !== undefined && !o.taskIds.has(taskId)) throw new Error(`no task "${taskId}" in batch ${o.batchId}`);
      },
    });

    setHandler(taskEventSignal, ({ taskId, status, question }) => {
      if (!o.isRunning(taskId)) return;
      this.states.set(taskId, status);
      if (question) this.questions.set(taskId, question);
      else this.questions.delete(taskId);
      o.changed();
    });
  }

  /** A task ended: book its cost, release what it held, forget its live state. */
  taskEnded(taskId: string, costUsd: number): void {
    settleTask(this.ledger, taskId, costUsd);
    this.states.delete(taskId);
    this.questions.delete(taskId);
  }

  budget(): NonNullable<BatchStatus['budget']> {
    const spent = spentUsd(this.ledger);
    return { capUsd: this.ledger.capUsd, spentUsd: Math.round(spent * 1e6) / 1e6, reservedUsd: Math.round((committedUsd(this.ledger) - spent) * 1e6) / 1e6, warned: this.ledger.warned };
  }

  /** Open questions, oldest first, with their age at `now`. */
  openQuestions(now: number): NonNullable<BatchStatus['questions']> {
    return [...this.questions.values()].sort((a, b) => a.askedAt - b.askedAt).map((q) => ({ ...q, ageMs: now - q.askedAt }));
  }
}
