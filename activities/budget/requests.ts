/**
 * Budget requests between workflows. Workflow code cannot update another workflow, so
 * these activities do it with a Temporal client:
 * - a task's request for an allowance, sent to its batch as the `reserveBudget` Update;
 * - a batch's request to the day's ledger (`reserveDaily`), which starts the ledger if it
 *   is not running yet (update-with-start), and the settlement of a task that ended.
 * Update IDs are the requests' keys and the ledgers record the last key per task, so a
 * retried activity gets the answer the first attempt got.
 */
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { LEDGER_WORKFLOW, ledgerWorkflowId, TASK_QUEUE } from '../../contract';
import { withHeartbeats } from '../heartbeat';
import {
  reserveBudgetUpdate,
  reserveDailyUpdate,
  settleDailySignal,
  type AllowanceGrant,
  type AllowanceRequest,
  type DailyAllowanceRequest,
  type DailyGrant,
} from '../../workflows/budget/messages';

/** The queue of the worker running this activity, so the ledger runs where the batch does. */
function taskQueue(): string {
  try {
    return Context.current().info.taskQueue;
  } catch {
    return TASK_QUEUE;
  }
}

export function createBudgetActivities(deps: { temporalClient: () => Promise<Client> }) {
  return withHeartbeats(
    {
      async reserveAllowance(input: { batchWorkflowId: string; request: AllowanceRequest }): Promise<AllowanceGrant> {
        const client = await deps.temporalClient();
        return client.workflow
          .getHandle(input.batchWorkflowId)
          .executeUpdate(reserveBudgetUpdate, { args: [input.request], updateId: input.request.key });
      },

      /** Asks `date`'s ledger, starting it if need be. */
      async reserveDaily(input: { date: string; request: DailyAllowanceRequest }): Promise<DailyGrant> {
        const client = await deps.temporalClient();
        const start = new WithStartWorkflowOperation(LEDGER_WORKFLOW, {
          workflowId: ledgerWorkflowId(input.date),
          taskQueue: taskQueue(),
          args: [{ date: input.date }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
        return client.workflow.executeUpdateWithStart(reserveDailyUpdate, {
          args: [input.request],
          updateId: input.request.key,
          startWorkflowOperation: start,
        });
      },

      /** Books a finished task's spend on the day it last reserved from; a closed ledger needs nothing. */
      async settleDaily(input: { date: string; holder: string; spentUsd: number }): Promise<void> {
        const client = await deps.temporalClient();
        try {
          await client.workflow
            .getHandle(ledgerWorkflowId(input.date))
            .signal(settleDailySignal, { holder: input.holder, spentUsd: input.spentUsd });
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      },
    },
    ['reserveAllowance', 'reserveDaily'],
  );
}
