/**
 * plannedNight: `nightshift start --decompose "goal"`. Plans the goal into a task file
 * (the `decomposeGoal` activity, idempotent by this workflow's ID) and runs that file as
 * the night's `nightlyBatch` child, so the plan is on disk for review and the batch is
 * the ordinary one (same ID, status query, report).
 *
 * Deterministic code only.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { planningCall } from '../activity-profiles';
import type { DecomposeGoalResult } from '../../activities/planning';
import { batchIdFor, SEARCH_ATTRIBUTES, type BatchResult, type PlannedNightInput } from '../../contract';
import { nightlyBatch } from '../night/batch';

export interface PlannedNightResult {
  plan: DecomposeGoalResult;
  batch: BatchResult;
}

const { decomposeGoal } = proxyActivities<Activities>(planningCall());

export async function plannedNight(input: PlannedNightInput): Promise<PlannedNightResult> {
  const batchId = input.batchId ?? batchIdFor(input.date);
  const plan = await decomposeGoal({
    goal: input.goal,
    prdFile: input.prdFile,
    date: input.date,
    maxCostUsd: input.maxCostUsd,
    repo: input.repo,
    model: input.model,
    out: input.out,
    key: workflowInfo().workflowId,
    batchId,
  });
  const batch = await executeChild(nightlyBatch, {
    workflowId: batchId,
    // A plan stored in a shared store runs on any host; the task file is on the planning host only.
    args: [
      { tasksFile: plan.tasksFile, date: input.date, ...(plan.storedSpec ? { storedSpec: plan.storedSpec } : {}) },
    ],
    staticSummary: `nightshift ${input.date} · ${plan.taskIds.length} planned tasks from ${plan.tasksFile}`,
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.batch, value: batchId }],
  });
  return { plan, batch };
}
