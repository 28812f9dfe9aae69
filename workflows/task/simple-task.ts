/**
 * Simple mode inside agentTask: sandbox, prepare (clone + prompt), one
 * `simpleModelCall` that writes the files the model returns, keep the work, remove the
 * sandbox. It ends in the same result record as the agent loop.
 *
 * Deterministic code only.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { batchStep, modelCall, modelCallOnce, onHost, sandboxStep, type SandboxHost } from '../activity-profiles';
import { priceOf, resolveModel } from '../../common/models';
import {
  batchWaitUntil,
  simpleModeUsesBatch,
  SIMPLE_REQUEST_OVERHEAD_CHARS,
  SIMPLE_SNAPSHOT_CONTENT_CHARS,
  SIMPLE_SNAPSHOT_LISTING_CHARS,
  tokensFromChars,
} from '../budget/arithmetic';
import type { AgentTaskInput } from './messages';
import type { InterruptedCall, TaskResult, TaskStatus } from '../../contract';
import { deliver } from './delivery';
import { domainError } from '../domain-error';
import { waitForBatch } from '../message-batch';
import { Notifier } from '../notify';
import { TaskSandbox } from './sandbox';
import {
  allowanceGrantor,
  callWithBookedAttempts,
  newTaskBudget,
  PER_ATTEMPT_BOOKING_PATCH,
  RaiseInbox,
  reserveTurn,
} from '../budget/task-side';

/** max_tokens of the one call. */
const SIMPLE_MAX_TOKENS = 16_384;

/** Set on histories whose simple-mode reservation is bounded by the request's size rather than the model's window. */
export const SIMPLE_RESERVATION_PATCH = 'simple-mode-reservation-by-request-size';

/** Set on histories whose simple-mode call may go through the Message Batches API. */
export const SIMPLE_BATCH_PATCH = 'simple-mode-batches-api';

type BatchCall =
  | { stored: true; costUsd: number; suspects: number }
  | { stored: false; reason: string; costUsd: number; suspects: number };

/**
 * Simple mode's call through the Message Batches API: submit (at most once, batches.ts), poll
 * with durable timers until the batch ends or the time kept for a fallback call is reached
 * (then cancel it), and collect its result into the store. Never throws for the API's sake: a
 * batch that could not be submitted, expired, was canceled or errored says why, and the task
 * asks the Messages API instead. A batch whose state or results cannot be read is counted at
 * its reserved worst case; a canceled task cancels its batch.
 */
async function viaBatch(
  call: { workflowId: string; sandboxId: string; model: string; contextFiles: string[]; maxTokens: number },
  host: SandboxHost,
  waitUntil: number,
  worstUsd: number,
  say: (line: string) => void,
): Promise<BatchCall> {
  // Built here, not at import: the model queue is decided inside the running workflow. The submission reads the sandbox's files, so it goes to the sandbox's host.
  const batchApi = proxyActivities<Activities>(onHost(batchStep(), host));
  let submitted: { batchId: string; suspects: string[] };
  try {
    say('submitting to the Message Batches API');
    submitted = await batchApi.submitSimpleBatch(call);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return {
      stored: false,
      reason: `the batch could not be submitted: ${domainError(err).message}`,
      costUsd: 0,
      suspects: 0,
    };
  }
  const { batchId } = submitted;
  const suspects = submitted.suspects.length;
  try {
    const { canceled } = await waitForBatch(
      { state: batchApi.simpleBatchState, cancel: batchApi.cancelSimpleBatch },
      batchId,
      waitUntil,
      say,
    );
    const got = await batchApi.collectSimpleBatch({ workflowId: call.workflowId, batchId, model: call.model });
    return got.stored
      ? { ...got, suspects }
      : { ...got, reason: `${got.reason}${canceled ? ' (canceled: the task could not wait longer)' : ''}`, suspects };
  } catch (err) {
    if (isCancellation(err)) {
      // A canceled task leaves no batch running up a bill for it.
      await CancellationScope.nonCancellable(() => batchApi.cancelSimpleBatch({ batchId }).catch(() => undefined));
      throw err;
    }
    // The batch may have been answered (and billed) though its state or results cannot be read: counted at its worst case.
    return {
      stored: false,
      reason: `batch ${batchId} could not be read: ${domainError(err).message}`,
      costUsd: worstUsd,
      suspects,
    };
  }
}

/** The one model call reads and writes the sandbox's files, so it goes to the sandbox's host with the other sandbox steps. */
function proxies(host: SandboxHost) {
  return {
    model: proxyActivities<Activities>(onHost(modelCall(), host)),
    sandbox: proxyActivities<Activities>(onHost(sandboxStep(), host)),
    modelOnce: proxyActivities<Activities>(onHost(modelCallOnce(), host)),
  };
}

/** `storeKey`: what the task run's records are kept under (contract.ts taskRunKey). */
export async function runSimpleTask(
  input: AgentTaskInput,
  status: TaskStatus,
  storeKey: string,
): Promise<Partial<TaskResult>> {
  const { task } = input;
  let outcome: Partial<TaskResult> = {};
  const notes: string[] = [];
  const raises = new RaiseInbox();
  raises.listen();
  const notifier = new Notifier(
    { workflowId: storeKey, batchId: input.batchId, taskId: task.id, settings: input.notify },
    notes,
  );
  // A remote sandbox is made and worked on through its provider's queue; a local one's host is known once made.
  // A lost host fails this one-call task: nothing is rebuilt.
  const taskSandbox: TaskSandbox = new TaskSandbox(input, storeKey, {
    hostScheduleToStartMs: input.loop?.hostScheduleToStartMs,
    recoveries: 0,
    onMoved: () => ({ model, sandbox, modelOnce } = proxies(host)),
  });
  const host = taskSandbox.host;
  let { model, sandbox, modelOnce } = proxies(host);
  try {
    status.activity = 'creating sandbox';
    const sandboxId = await taskSandbox.create();
    status.activity = 'preparing workspace';
    const prepared = await sandbox.prepareAgent({ workflowId: storeKey, sandboxId, task });
    const m = resolveModel(task.model, task.complexity);
    const state = newTaskBudget(0);
    const window = priceOf(m)?.contextWindow ?? 0;
    // The request is the prompt prepareAgent measured plus a snapshot of bounded size; older runs reserved a whole window.
    state.nextInputTokens = patched(SIMPLE_RESERVATION_PATCH)
      ? Math.min(
          window,
          tokensFromChars(
            prepared.promptChars +
              SIMPLE_SNAPSHOT_CONTENT_CHARS +
              SIMPLE_SNAPSHOT_LISTING_CHARS +
              SIMPLE_REQUEST_OVERHEAD_CHARS,
          ),
        )
      : window;
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
    const call = {
      workflowId: storeKey,
      sandboxId,
      model: m,
      contextFiles: [...task.contextFiles, ...task.deliverables],
      maxTokens: SIMPLE_MAX_TOKENS,
    };
    const interruptedCalls: InterruptedCall[] = [];
    let booked = 0;
    let called: { result?: Awaited<ReturnType<Activities['simpleModelCall']>>; end?: Partial<TaskResult> } | undefined;
    // The Messages API call after a batch that gave no answer reserves under its own turn number, so its reservation key is new.
    let messagesTurn = 1;
    const startedAt = status.startedAt ?? Date.now();
    const waitUntil = batchWaitUntil(startedAt, task.timeoutMs);
    const batchWanted = simpleModeUsesBatch(task.modelApi, waitUntil, Date.now());
    if (batchWanted && patched(SIMPLE_BATCH_PATCH)) {
      // Reserved at the batch price before anything is submitted; booked from the result.
      const reserved = await reserveTurn({ ...budget, api: 'batch' }, raises, 1, 0);
      if (!reserved.go) called = { end: reserved.end };
      else {
        const b = await viaBatch(
          call,
          host,
          waitUntil,
          reserved.worstUsd,
          (line) => (status.activity = `simple mode: ${line}`),
        );
        if (b.suspects > 0) {
          // A lost attempt may have created a batch that cannot be told from another task's: counted at its worst case.
          for (let i = 0; i < b.suspects; i++)
            interruptedCalls.push({ turn: 1, attempt: i + 1, bookedUsd: reserved.worstUsd, basis: 'worst_case' });
          booked += b.suspects * reserved.worstUsd;
          notes.push(
            `a submission to the Message Batches API was lost with its worker; ${b.suspects} batch(es) it may have created were booked at their worst case`,
          );
        }
        booked += b.costUsd;
        if (b.stored) {
          status.activity = 'simple mode: writing the batch answer';
          const r = await model.simpleModelCall({ ...call, storedOnly: true });
          // Counted in `booked` already, which the outcome adds to the result's own cost.
          called = { result: { ...r, costUsd: 0 } };
        } else {
          notes.push(`Message Batches API: ${b.reason}; asked the Messages API instead`);
          messagesTurn = 2;
          Object.assign(status, { costUsd: booked });
        }
      }
    }
    if (called) {
      // Answered (or stopped by the budget) through the Batches API.
    } else if (patched(PER_ATTEMPT_BOOKING_PATCH)) {
      called = await callWithBookedAttempts(budget, raises, {
        turn: messagesTurn,
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
        ...(r.error
          ? { status: 'failed', error: r.error }
          : { status: 'succeeded', summary: `${r.summary}${r.summary ? ' ' : ''}(wrote ${r.files.join(', ')})` }),
      };
    }
    // The same delivery as the agent loop: branch, push, PR or patch.
    outcome = await deliver(input, { workflowId: status.workflowId, storeKey, sandboxId }, outcome, status, host);
  } catch (err) {
    if (isCancellation(err)) throw err;
    // A non-retryable failure (the API refused the request, a clone that cannot work) ends this repo's task, not the night.
    if (err instanceof ActivityFailure || err instanceof ApplicationFailure)
      outcome = { status: 'failed', error: domainError(err).message };
    else throw err;
  } finally {
    if (taskSandbox.id) outcome = await taskSandbox.release(outcome, status);
  }
  await notifier.flush();
  return notes.length ? { ...outcome, notes: [...(outcome.notes ?? []), ...notes] } : outcome;
}
