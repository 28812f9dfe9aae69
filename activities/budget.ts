/**
 * The task's request for an allowance, sent to its batch as the `reserveBudget` Update.
 * Workflow code cannot update another workflow, so an activity does it with a Temporal
 * client. The Update ID is the request's key and the batch records the last key per task,
 * so a retried activity gets the answer the first attempt got.
 */
import type { Client } from '@temporalio/client';
import { reserveBudgetUpdate, type AllowanceGrant, type AllowanceRequest } from '../workflows/contract';

export function createBudgetActivities(deps: { temporalClient: () => Promise<Client> }) {
  return {
    async reserveAllowance(input: { batchWorkflowId: string; request: AllowanceRequest }): Promise<AllowanceGrant> {
      const client = await deps.temporalClient();
      return client.workflow.getHandle(input.batchWorkflowId).executeUpdate(reserveBudgetUpdate, { args: [input.request], updateId: input.request.key });
    },
  };
}
