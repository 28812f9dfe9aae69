/**
 * improvementLoops (`nightshift improve --repo R --loops N`). Per loop: a
 * research agent (an agentTask child) writes FINDINGS.md; the findings are planned into at
 * most five tasks; those run as a nightlyBatch child (from the night stored in a shared
 * state store, when there is one); a memory step keeps a short loop summary. The next loop's research and planning read that summary, not the history, so
 * loop N costs the same context as loop 1.
 *
 * Deterministic code only.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { bookkeeping, planningCall } from '../activity-profiles';
import { roundUsd } from '../../common/money';
import { agentTask } from '../task/task';
import { nightlyBatch } from '../night/batch';
import {
  failedTaskResult,
  SEARCH_ATTRIBUTES,
  type ImproveInput,
  type ImproveResult,
  type LoopResult,
} from '../../contract';

const { planFromFindings } = proxyActivities<Activities>(planningCall());
const { researchTaskFor, writeLoopSummary } = proxyActivities<Activities>(bookkeeping);
const acts = { planFromFindings, researchTaskFor, writeLoopSummary };

export async function improvementLoops(input: ImproveInput): Promise<ImproveResult> {
  const workflowId = workflowInfo().workflowId;
  const loops: LoopResult[] = [];
  let summary: string | undefined;
  let costUsd = 0;
  for (let loop = 1; loop <= input.loops; loop++) {
    const ref = { workflowId, loop, repo: input.repo, previousSummary: summary };
    const task = await acts.researchTaskFor({ ...ref, model: input.model, maxCostUsd: input.maxCostUsdPerLoop });
    const loopId = `${workflowId}-loop-${loop}`;
    const research = await executeChild(agentTask, {
      workflowId: `${loopId}/${task.id}`,
      // The research task is bounded by its own max_cost_usd: this workflow grants no allowances.
      args: [{ batchId: loopId, date: input.date, task, allowanceFrom: null }],
      staticSummary: `improvement loop ${loop}: research`,
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.task, value: task.id }],
      // A research task that failed fails its workflow, carrying its result (workflows/task/task.ts).
    }).catch((err: unknown) => failedTaskResult(err) ?? Promise.reject(err));
    costUsd += research.costUsd;
    const result: LoopResult = {
      loop,
      research: { status: research.status, costUsd: research.costUsd, error: research.error },
      tasks: [],
    };
    loops.push(result);
    // Without findings there is nothing to plan; the loops stop rather than guess.
    if (research.status !== 'succeeded') break;

    const batchId = `${loopId}-batch`;
    const plan = await acts.planFromFindings({
      ...ref,
      date: input.date,
      workDir: research.workDir,
      summary: research.summary,
      maxCostUsd: input.maxCostUsdPerLoop,
      model: input.model,
      batchId,
    });
    result.tasksFile = plan.tasksFile;
    const batch = await executeChild(nightlyBatch, {
      workflowId: batchId,
      // A plan kept in a shared store runs on any host; the task file is on the planning host only.
      // Replaying an older run changes nothing: its plan, from history, has no storedSpec.
      args: [
        { tasksFile: plan.tasksFile, date: input.date, ...(plan.storedSpec ? { storedSpec: plan.storedSpec } : {}) },
      ],
      staticSummary: `improvement loop ${loop}: ${plan.taskIds.length} tasks from ${plan.tasksFile}`,
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.batch, value: batchId }],
    });
    result.batchId = batchId;
    result.tasks = batch.tasks.map((t) => ({ taskId: t.taskId, status: t.status, costUsd: t.costUsd }));
    costUsd += batch.costUsd;

    const memory = await acts.writeLoopSummary({
      ...ref,
      findings: plan.findings,
      tasks: batch.tasks.map((t) => ({
        taskId: t.taskId,
        title: t.title,
        status: t.status,
        summary: t.summary,
        error: t.error,
        costUsd: t.costUsd,
      })),
    });
    result.summaryFile = memory.file;
    summary = memory.text;
  }
  return { loops, costUsd: roundUsd(costUsd), summary };
}
