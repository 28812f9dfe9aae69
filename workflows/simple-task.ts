/**
 * Simple mode (seed 004) inside agentTask: sandbox, prepare (clone + prompt), one
 * `simpleModelCall` that writes the files the model returns, keep the work, remove the
 * sandbox. It ends in the same result record as the agent loop.
 *
 * Deterministic code only.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { modelCall, sandboxStep } from './activity-profiles';
import { priceOf, resolveModel } from '../common/models';
import type { AgentTaskInput, TaskResult, TaskStatus } from './contract';
import { deliver } from './delivery';
import { Notifier } from './notify';
import { allowanceGrantor, newTaskBudget, RaiseInbox, reserveTurn } from './task-budget';

/** max_tokens of the one call. */
const SIMPLE_MAX_TOKENS = 16_384;

const model = proxyActivities<Activities>(modelCall());
const sandbox = proxyActivities<Activities>(sandboxStep());

function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function runSimpleTask(input: AgentTaskInput, status: TaskStatus, workflowId: string): Promise<Partial<TaskResult>> {
  const { task } = input;
  let sandboxId: string | undefined;
  let outcome: Partial<TaskResult> = {};
  const notes: string[] = [];
  const raises = new RaiseInbox();
  raises.listen();
  const notifier = new Notifier({ workflowId, batchId: input.batchId, taskId: task.id, settings: input.notify }, notes);
  try {
    status.activity = 'creating sandbox';
    sandboxId = (await sandbox.createAgentSandbox({ workflowId, sandbox: task.sandbox ?? input.sandbox })).sandboxId;
    status.activity = 'preparing workspace';
    await sandbox.prepareAgent({ workflowId, sandboxId, task });
    const m = resolveModel(task.model, task.complexity);
    // The request holds files this code cannot size, so the reservation assumes a full context window.
    const state = newTaskBudget(0);
    state.nextInputTokens = priceOf(m)?.contextWindow ?? 0;
    const budget = {
      state,
      status,
      notifier,
      notes,
      model: m,
      maxTokens: SIMPLE_MAX_TOKENS,
      capUsd: task.maxCostUsd,
      allowanceFrom: allowanceGrantor(input),
      remainingMs: () => task.timeoutMs - (Date.now() - (status.startedAt ?? Date.now())),
    };
    const reserved = await reserveTurn(budget, raises, 1, 0);
    if (!reserved.go) outcome = { ...reserved.end, turns: 0 };
    else {
      status.activity = `calling ${m} once (simple mode)`;
      const r = await model.simpleModelCall({ workflowId, sandboxId, model: m, contextFiles: [...task.contextFiles, ...task.deliverables], maxTokens: SIMPLE_MAX_TOKENS });
      outcome = {
        costUsd: r.costUsd,
        tokens: r.usage,
        turns: 1,
        model: r.model,
        ...(r.replay ? { replay: true } : {}),
        ...(r.costEstimated ? { costEstimated: true } : {}),
        ...(r.error ? { status: 'failed', error: r.error } : { status: 'succeeded', summary: `${r.summary}${r.summary ? ' ' : ''}(wrote ${r.files.join(', ')})` }),
      };
    }
    // The same delivery as the agent loop: branch, push, PR or patch.
    outcome = await deliver(input, { workflowId, sandboxId }, outcome, status);
  } catch (err) {
    if (isCancellation(err)) throw err;
    // A non-retryable failure (the API refused the request, a clone that cannot work) ends this repo's task, not the night.
    if (err instanceof ActivityFailure || err instanceof ApplicationFailure) outcome = { status: 'failed', error: messageOf(err) };
    else throw err;
  } finally {
    if (sandboxId) {
      const id = sandboxId;
      await CancellationScope.nonCancellable(async () => {
        try {
          const kept = await sandbox.keepWork({ workflowId, sandboxId: id });
          outcome = { ...outcome, workDir: kept.workDir };
        } catch (err) {
          outcome = { ...outcome, error: [outcome.error, `the workspace could not be kept: ${messageOf(err)}`].filter(Boolean).join('; ') };
        }
        await sandbox.killSandbox({ sandboxId: id });
      });
    }
  }
  await notifier.flush();
  return notes.length ? { ...outcome, notes: [...(outcome.notes ?? []), ...notes] } : outcome;
}
