/**
 * `budget day` and `budget raise-day`: the daily cap's ledger (workflow `dailyLedger`, ID
 * `nightshift-ledger-<YYYY-MM-DD>`, one per UTC day). It exists once a batch with a daily
 * cap has reserved money that day.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import {
  dailyLedgerStatusQuery,
  ledgerDate,
  ledgerWorkflowId,
  raiseBudgetUpdate,
  type DailyLedgerStatus,
} from '../../contract';
import { CliError, EXIT, failureMessage } from '../errors';
import { usd } from '../format';
import { queryWithWorker } from '../workers';

function dayOf(date?: string): string {
  const d = date ?? ledgerDate(Date.now());
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) throw new CliError(`"${d}" is not a date YYYY-MM-DD`, EXIT.usage);
  return d;
}

const noLedger = (date: string) =>
  new CliError(
    `no daily ledger for ${date} (${ledgerWorkflowId(date)}): no batch with a daily cap has reserved money that day`,
    EXIT.notFound,
  );

export async function readLedger(client: Client, date?: string): Promise<DailyLedgerStatus> {
  const day = dayOf(date);
  const handle = client.workflow.getHandle(ledgerWorkflowId(day));
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw noLedger(day);
    throw err;
  }
  return queryWithWorker(client, () => handle.query(dailyLedgerStatusQuery));
}

export function renderLedger(s: DailyLedgerStatus): string {
  return [
    `${s.date} (UTC): spent ${usd(s.spentUsd)}, reserved ${usd(s.reservedUsd)} of the daily cap ${usd(s.capUsd)}${s.raisedUsd ? ` (raised by ${usd(s.raisedUsd)})` : ''}; ${s.tasks} tasks`,
    ...(s.paused.length ? [`paused by the daily cap: ${s.paused.join(', ')}`] : []),
  ].join('\n');
}

/** Adds to the day's cap (for every batch of the day) and resumes the tasks it paused. */
export async function raiseDay(
  client: Client,
  amount: string,
  date?: string,
): Promise<{ date: string; capUsd: number; resumed: string[] }> {
  const addUsd = Number(amount);
  if (!Number.isFinite(addUsd) || addUsd <= 0)
    throw new CliError(`"${amount}" is not an amount of US dollars above 0`, EXIT.usage);
  const day = dayOf(date);
  try {
    const r = await client.workflow
      .getHandle(ledgerWorkflowId(day))
      .executeUpdate(raiseBudgetUpdate, { args: [{ addUsd }] });
    return { date: day, ...r };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw noLedger(day);
    if (err instanceof WorkflowUpdateFailedError) throw new CliError(failureMessage(err), EXIT.usage);
    throw err;
  }
}
