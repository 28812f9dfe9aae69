/**
 * dailyLedger: one workflow per UTC day (`nightshift-ledger-<YYYY-MM-DD>`) holding the
 * day's spend across every batch, for the optional daily cap (folder mode's daily budget,
 * resetting at midnight UTC). Batches that have a daily cap start it on demand (update
 * with start, from an activity) and ask it before granting a task its allowance; grants
 * are Updates keyed like the batch's, so a retried request is answered once.
 *
 * `raiseBudget` on the ledger (`{ addUsd }`) raises the day's cap and wakes the tasks it
 * paused. The ledger lives until a day after its own ends, so tasks that run past
 * midnight can still settle; then it completes with its final state.
 *
 * Deterministic code only.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { committedUsd, newDailyLedger, raiseDaily, requestDaily, settleDaily, spentUsd } from './arithmetic';
import { roundUsd } from '../../common/money';
import { budgetRaisedSignal, reserveDailyUpdate, settleDailySignal, type DailyLedgerState } from './messages';
import { dailyLedgerStatusQuery, raiseBudgetUpdate, type DailyLedgerStatus } from '../../contract';

const DAY_MS = 86_400_000;
/** Past this many events the ledger continues as new (a busy day has thousands of reservations). */
const HISTORY_EVENT_LIMIT = 8_000;

export interface DailyLedgerInput {
  date: string;
  /** Internal: state carried across continue-as-new. */
  carried?: DailyLedgerState;
}

export function ledgerStatus(d: DailyLedgerState): DailyLedgerStatus {
  const spent = spentUsd(d.ledger);
  return {
    date: d.date,
    capUsd: d.ledger.capUsd,
    raisedUsd: d.raisedUsd,
    spentUsd: roundUsd(spent),
    reservedUsd: roundUsd(committedUsd(d.ledger) - spent),
    tasks: Object.keys(d.ledger.tasks).length,
    paused: [...d.paused],
  };
}

export async function dailyLedger(input: DailyLedgerInput): Promise<DailyLedgerStatus> {
  const d = input.carried ?? newDailyLedger(input.date);
  setHandler(dailyLedgerStatusQuery, () => ledgerStatus(d));
  setHandler(reserveDailyUpdate, (req) => requestDaily(d, req), {
    validator: (req) => {
      for (const k of ['spentUsd', 'needUsd', 'capUsd'] as const) {
        if (typeof req?.[k] !== 'number' || !Number.isFinite(req[k]) || req[k] < 0)
          throw new Error(`${k} must be a number of US dollars`);
      }
    },
  });
  setHandler(settleDailySignal, ({ holder, spentUsd: spent }) => settleDaily(d, holder, spent));
  setHandler(
    raiseBudgetUpdate,
    async ({ addUsd }) => {
      const resumed = raiseDaily(d, addUsd);
      for (const holder of resumed) {
        // The task asks its batch again, and the batch asks this ledger.
        await getExternalWorkflowHandle(holder)
          .signal(budgetRaisedSignal, {})
          .catch(() => undefined); // it ended meanwhile
      }
      return { capUsd: d.ledger.capUsd, resumed };
    },
    {
      validator: ({ addUsd, taskId }) => {
        if (typeof addUsd !== 'number' || !Number.isFinite(addUsd) || addUsd <= 0)
          throw new Error('addUsd must be a number of US dollars above 0');
        if (taskId !== undefined) throw new Error("the day's ledger has no task caps: raise a task's cap on its batch");
      },
    },
  );

  const closesAt = Date.parse(`${d.date}T00:00:00Z`) + 2 * DAY_MS;
  const tooLong = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > HISTORY_EVENT_LIMIT;
  await condition(tooLong, Math.max(0, closesAt - Date.now()));
  await condition(allHandlersFinished);
  if (Date.now() < closesAt) return continueAsNew<typeof dailyLedger>({ date: d.date, carried: d });
  return ledgerStatus(d);
}
