/**
 * After a task succeeds, learning from it: on_completion.update_skill extracts the
 * reusable pattern (the `learnSkill` activity), its cost added to the task's. Learning is a bonus, never a reason to
 * fail work that succeeded, so its failures are logged and dropped.
 *
 * With `model_api: batch` the request goes through the Message Batches API at half price
 * (submitted at most once, polled with durable timers, its result read once); a batch that
 * gives no skill in time falls back to the Messages API.
 *
 * Deterministic code only.
 */
import { CancellationScope, isCancellation, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { LearnSkillInput, LearnSkillResult } from '../../activities/learning/learn-skill';
import { batchStep, skillLearningCall } from '../activity-profiles';
import { roundUsdNano } from '../../common/money';
import { batchWaitUntil } from '../budget/arithmetic';
import type { AgentTaskInput } from '../task/messages';
import type { TaskResult } from '../../contract';
import { waitForBatch } from '../message-batch';

/** Set on histories whose skill learning may go through the Message Batches API. */
export const SKILL_BATCH_PATCH = 'skill-learning-batches-api';

/** `storeKey`: where the task run's transcript is kept (workflows/task/messages.ts taskRunKey). */
export async function learnFromSuccess(
  input: AgentTaskInput,
  outcome: Partial<TaskResult>,
  storeKey: string,
): Promise<void> {
  const { task } = input;
  if (outcome.status !== 'succeeded' || !task.updateSkill) return;
  // What learning cost is the task's spend too: no call is free in the totals.
  // Rounded like the loop's totals, so the sum carries no float noise (0.0012000000000000001).
  const book = (usd: number) => (outcome.costUsd = roundUsdNano((outcome.costUsd ?? 0) + usd));
  const request: LearnSkillInput = {
    workflowId: storeKey,
    task: {
      id: task.id,
      title: task.title,
      description: task.description,
      acceptanceCriteria: task.acceptanceCriteria,
      updateSkill: task.updateSkill,
    },
    summary: outcome.summary,
    date: input.date,
    model: task.model,
  };
  try {
    if (task.modelApi === 'batch' && patched(SKILL_BATCH_PATCH)) {
      const viaBatch = await learnViaBatch(
        request,
        batchWaitUntil(input.carried?.startedAt ?? workflowInfo().startTime.getTime(), task.timeoutMs),
      );
      book(viaBatch.costUsd);
      if (viaBatch.learned) {
        log.info('skill learned through the Message Batches API', {
          skill: viaBatch.learned.name,
          status: viaBatch.learned.status,
          confidence: viaBatch.learned.confidence,
        });
        return;
      }
      outcome.notes = [
        ...(outcome.notes ?? []),
        `skill learning, Message Batches API: ${viaBatch.reason}; asked the Messages API instead`,
      ];
    }
    // Built here, not at import: the model queue is decided inside the running workflow.
    const r = await proxyActivities<Activities>(skillLearningCall()).learnSkill(request);
    book(r.costUsd);
    log.info('skill learned', { skill: r.name, status: r.status, confidence: r.confidence });
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('could not learn a skill from this task', {
      skill: task.updateSkill,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/**
 * Never throws for the API's sake: a batch that could not be submitted, ended without a
 * skill or was cancelled for running late says why. One whose state or results cannot be
 * read may still have been answered and billed, so it is counted at its worst case.
 */
async function learnViaBatch(
  request: LearnSkillInput,
  waitUntil: number,
): Promise<{ learned: LearnSkillResult; costUsd: number } | { learned?: undefined; reason: string; costUsd: number }> {
  const api = proxyActivities<Activities>(batchStep());
  let batchId: string;
  let worstUsd: number;
  try {
    const submitted = await api.submitSkillBatch(request);
    if (submitted.learned) return { learned: submitted.learned, costUsd: 0 };
    ({ batchId, worstUsd } = submitted);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return {
      reason: `the batch could not be submitted: ${err instanceof Error ? err.message : String(err)}`,
      costUsd: 0,
    };
  }
  try {
    const { canceled } = await waitForBatch(
      { state: api.simpleBatchState, cancel: api.cancelSimpleBatch },
      batchId,
      waitUntil,
      () => undefined,
    );
    const got = await api.collectSkillBatch({ ...request, batchId });
    return got.learned
      ? { learned: got.learned, costUsd: got.learned.costUsd }
      : {
          reason: `${got.reason}${canceled ? ' (canceled: the task could not wait longer)' : ''}`,
          costUsd: got.costUsd,
        };
  } catch (err) {
    if (isCancellation(err)) {
      // A canceled task leaves no batch running up a bill for it.
      await CancellationScope.nonCancellable(() => api.cancelSimpleBatch({ batchId }).catch(() => undefined));
      throw err;
    }
    return {
      reason: `batch ${batchId} could not be read: ${err instanceof Error ? err.message : String(err)}`,
      costUsd: worstUsd,
    };
  }
}
