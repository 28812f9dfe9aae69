/**
 * After a task succeeds, learning from it: on_completion.update_skill extracts the
 * reusable pattern (the `learnSkill` activity), its cost added to the task's. Learning is a bonus, never a reason to
 * fail work that succeeded, so its failures are logged and dropped.
 *
 * Deterministic code only.
 */
import { isCancellation, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { skillLearningCall } from './activity-profiles';
import type { AgentTaskInput, TaskResult } from './contract';

/** `storeKey`: where the task run's transcript is kept (contract.ts taskRunKey). */
export async function learnFromSuccess(input: AgentTaskInput, outcome: Partial<TaskResult>, storeKey: string): Promise<void> {
  const { task } = input;
  if (outcome.status !== 'succeeded' || !task.updateSkill) return;
  try {
    // Built here, not at import: the model queue is decided inside the running workflow.
    const r = await proxyActivities<Activities>(skillLearningCall()).learnSkill({
      workflowId: storeKey,
      task: { id: task.id, title: task.title, description: task.description, acceptanceCriteria: task.acceptanceCriteria, updateSkill: task.updateSkill },
      summary: outcome.summary,
      date: input.date,
      model: task.model,
    });
    // What learning cost is the task's spend too: no call is free in the totals.
    // Rounded like the loop's totals, so the sum carries no float noise (0.0012000000000000001).
    outcome.costUsd = Math.round(((outcome.costUsd ?? 0) + r.costUsd) * 1e9) / 1e9;
    log.info('skill learned', { skill: r.name, status: r.status, confidence: r.confidence });
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('could not learn a skill from this task', { skill: task.updateSkill, error: err instanceof Error ? err.message : String(err) });
  }
}
