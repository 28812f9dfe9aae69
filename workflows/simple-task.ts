/**
 * Simple mode (seed 004) inside agentTask: sandbox, prepare (clone + prompt), one
 * `simpleModelCall` that writes the files the model returns, keep the work, remove the
 * sandbox. It ends in the same result record as the agent loop.
 *
 * Deterministic code only.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { hostLost, modelCall, modelCallOnce, onHost, sandboxStep, type SandboxHost } from './activity-profiles';
import { priceOf, resolveModel } from '../common/models';
import { SANDBOX_AFFINITY_PATCH, type AgentTaskInput, type InterruptedCall, type TaskResult, type TaskStatus } from './contract';
import { deliver } from './delivery';
import { Notifier } from './notify';
import { allowanceGrantor, callWithBookedAttempts, newTaskBudget, PER_ATTEMPT_BOOKING_PATCH, RaiseInbox, reserveTurn } from './task-budget';

/** max_tokens of the one call. */
const SIMPLE_MAX_TOKENS = 16_384;

/** The one model call reads and writes the sandbox's files, so it goes to the sandbox's host with the other sandbox steps. */
function proxies(host: SandboxHost) {
  return {
    model: proxyActivities<Activities>(onHost(modelCall(), host)),
    sandbox: proxyActivities<Activities>(onHost(sandboxStep(), host)),
    modelOnce: proxyActivities<Activities>(onHost(modelCallOnce(), host)),
  };
}

function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/** `storeKey`: what the task run's records are kept under (contract.ts taskRunKey). */
export async function runSimpleTask(input: AgentTaskInput, status: TaskStatus, storeKey: string): Promise<Partial<TaskResult>> {
  const { task } = input;
  let sandboxId: string | undefined;
  let outcome: Partial<TaskResult> = {};
  const notes: string[] = [];
  const raises = new RaiseInbox();
  raises.listen();
  const notifier = new Notifier({ workflowId: storeKey, batchId: input.batchId, taskId: task.id, settings: input.notify }, notes);
  const host: SandboxHost = { scheduleToStartMs: input.loop?.hostScheduleToStartMs };
  let { model, sandbox, modelOnce } = proxies(host);
  try {
    status.activity = 'creating sandbox';
    const made = await sandbox.createAgentSandbox({ workflowId: storeKey, sandbox: task.sandbox ?? input.sandbox });
    sandboxId = made.sandboxId;
    // Worker-specific task queue: the sandbox is on its creator's disk. A lost host fails this one-call task.
    if (made.taskQueue && patched(SANDBOX_AFFINITY_PATCH)) {
      host.taskQueue = made.taskQueue;
      ({ model, sandbox, modelOnce } = proxies(host));
    }
    status.activity = 'preparing workspace';
    await sandbox.prepareAgent({ workflowId: storeKey, sandboxId, task });
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
      storeKey,
      capUsd: task.maxCostUsd,
      allowanceFrom: allowanceGrantor(input),
      remainingMs: () => task.timeoutMs - (Date.now() - (status.startedAt ?? Date.now())),
    };
    const call = { workflowId: storeKey, sandboxId, model: m, contextFiles: [...task.contextFiles, ...task.deliverables], maxTokens: SIMPLE_MAX_TOKENS };
    const interruptedCalls: InterruptedCall[] = [];
    let booked = 0;
    let called: { result?: Awaited<ReturnType<Activities['simpleModelCall']>>; end?: Partial<TaskResult> };
    if (patched(PER_ATTEMPT_BOOKING_PATCH)) {
      called = await callWithBookedAttempts(budget, raises, {
        turn: 1,
        spent: () => booked,
        // Kept on the status too, so a task that fails after the last attempt still reports what it was booked.
        book: (usd) => {
          booked += usd;
          Object.assign(status, { costUsd: booked, interruptedCalls: [...interruptedCalls] });
        },
        interrupted: interruptedCalls,
        call: (attempt) => modelOnce.simpleModelCall({ ...call, attempt }),
        say: (line) => (status.activity = `simple mode: ${line}`),
      });
    } else {
      const reserved = await reserveTurn(budget, raises, 1, 0);
      if (!reserved.go) called = { end: reserved.end };
      else {
        status.activity = `calling ${m} once (simple mode)`;
        called = { result: await model.simpleModelCall(call) };
      }
    }
    const r = called.result;
    const interrupted = interruptedCalls.length ? { interruptedCalls } : {};
    if (!r) outcome = { ...called.end, turns: 0, costUsd: booked, ...interrupted };
    else {
      outcome = {
        costUsd: r.costUsd + booked,
        tokens: r.usage,
        turns: 1,
        model: r.model,
        ...interrupted,
        ...(r.replay ? { replay: true } : {}),
        ...(r.costEstimated ? { costEstimated: true } : {}),
        ...(r.error ? { status: 'failed', error: r.error } : { status: 'succeeded', summary: `${r.summary}${r.summary ? ' ' : ''}(wrote ${r.files.join(', ')})` }),
      };
    }
    // The same delivery as the agent loop: branch, push, PR or patch.
    outcome = await deliver(input, { workflowId: status.workflowId, storeKey, sandboxId }, outcome, status, host);
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
          const kept = await sandbox.keepWork({ workflowId: storeKey, sandboxId: id });
          outcome = { ...outcome, workDir: kept.workDir };
        } catch (err) {
          outcome = { ...outcome, error: [outcome.error, `the workspace could not be kept: ${messageOf(err)}`].filter(Boolean).join('; ') };
        }
        try {
          await sandbox.killSandbox({ sandboxId: id });
        } catch (err) {
          // A sandbox whose host is gone went with it.
          if (!hostLost(err)) throw err;
        }
      });
    }
  }
  await notifier.flush();
  return notes.length ? { ...outcome, notes: [...(outcome.notes ?? []), ...notes] } : outcome;
}
