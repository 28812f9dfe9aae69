/**
 * The durable agent loop (design.md, "Why each model call is its own activity"): each
 * model turn is one `callModel` activity and each tool call one `runTool` activity, so a
 * worker that dies loses at most the step in flight. The transcript stays in the store;
 * this code sees only stop reasons, tool call ids and names, usage and short texts.
 *
 * Deterministic code only.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_ERRORS } from '../common/errors';
import { resolveModel } from '../common/models';
import type { AgentTaskInput, TaskResult, TaskStatus, TokenUsage } from './contract';
import { checkFinish, deliver, prepareFromDependencies } from './delivery';

const DEFAULT_HEARTBEAT_MS = 30_000;

function proxies(heartbeatTimeout: number) {
  const model = proxyActivities<Activities>({
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout,
    // Backoff for 429/529/5xx; a retry-after from the API overrides the interval (nextRetryDelay).
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
  const tool = proxyActivities<Activities>({
    // bash may run for up to 30 minutes; heartbeats notice a dead worker much sooner.
    startToCloseTimeout: '35 minutes',
    heartbeatTimeout,
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
  const sandbox = proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
  // Named one by one: the proxies are Proxy objects, which spreading would leave empty.
  return {
    callModel: model.callModel,
    runTool: tool.runTool,
    createAgentSandbox: sandbox.createAgentSandbox,
    prepareAgent: sandbox.prepareAgent,
    keepWork: sandbox.keepWork,
    killSandbox: sandbox.killSandbox,
  };
}

function addUsage(a: TokenUsage, b: TokenUsage): void {
  a.input += b.input;
  a.output += b.output;
  a.cacheWrite += b.cacheWrite;
  a.cacheRead += b.cacheRead;
}

/** The domain error inside an activity failure, if it is one of ours. */
function causeType(err: unknown): { type?: string; message: string } | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const c = err.cause;
  return c instanceof ApplicationFailure ? { type: c.type ?? undefined, message: c.message } : c ? { message: c.message } : undefined;
}

/**
 * Runs the loop for `input.task` and returns how it ended. Updates `status` (the task's
 * `status` query) as it goes. May continue-as-new, carrying the turn, totals and sandbox.
 */
export async function runAgentLoop(input: AgentTaskInput, status: TaskStatus): Promise<Partial<TaskResult>> {
  const { task } = input;
  const info = workflowInfo();
  const workflowId = info.workflowId;
  const opts = input.loop ?? {};
  const acts = proxies(opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_MS);
  const model = resolveModel(task.model, task.complexity);
  const carried = input.carried;

  let turn = carried?.turn ?? 1;
  let sandboxId = carried?.sandboxId;
  const tokens = carried ? { ...carried.tokens } : { ...status.tokens };
  let costUsd = carried?.costUsd ?? 0;
  let answeredBy = carried?.model;
  let replay = carried?.replay ?? false;
  let costEstimated = carried?.costEstimated ?? false;
  let fixRounds = carried?.fixRounds ?? 0;
  const runStartTurn = turn;
  let continuing = false;

  const totals = (): Partial<TaskResult> => ({
    costUsd: Math.round(costUsd * 1e9) / 1e9,
    tokens: { ...tokens },
    turns: turn - 1,
    ...(answeredBy ? { model: answeredBy } : {}),
    ...(replay ? { replay } : {}),
    ...(costEstimated ? { costEstimated } : {}),
  });
  const publish = (activity: string) => Object.assign(status, totals(), { activity });

  let outcome: Partial<TaskResult> = {};
  try {
    if (!sandboxId) {
      status.activity = 'creating sandbox';
      sandboxId = (await acts.createAgentSandbox({ workflowId, sandbox: task.sandbox ?? input.sandbox })).sandboxId;
    }
    if (!carried) {
      status.activity = 'preparing workspace';
      await prepareFromDependencies(input, sandboxId);
      await acts.prepareAgent({ workflowId, sandboxId, task });
    }

    for (;;) {
      if (turn > task.maxTurns) {
        outcome = { status: 'incomplete', error: `reached max_turns (${task.maxTurns}) before the agent called finish; the work so far is kept` };
        break;
      }
      // Workflow time, so replay agrees; a task that runs past its timeout stops between turns with its work kept.
      if (Date.now() - (status.startedAt ?? Date.now()) > task.timeoutMs) {
        outcome = { status: 'incomplete', error: `ran past its timeout (${Math.round(task.timeoutMs / 60_000)} min) before the agent called finish; the work so far is kept` };
        break;
      }
      const every = opts.continueAsNewEveryTurns;
      if (workflowInfo().continueAsNewSuggested || (every !== undefined && turn - runStartTurn >= every)) {
        continuing = true;
        break;
      }

      publish(`turn ${turn}: calling ${model}`);
      const mt = await acts.callModel({ workflowId, turn, model, maxTokens: opts.maxTokens });
      addUsage(tokens, mt.usage);
      costUsd += mt.costUsd;
      answeredBy = mt.model;
      replay ||= mt.replay;
      costEstimated ||= mt.costEstimated;

      for (const call of mt.toolCalls) {
        if (call.name === 'finish') continue;
        publish(`turn ${turn}: ${call.name} ${call.summary}`);
        await acts.runTool({ workflowId, turn, toolUseId: call.id, sandboxId });
      }
      turn++;
      publish(`turn ${turn - 1} done`);

      if (mt.finish) {
        const finishToolUseId = mt.toolCalls.find((c) => c.name === 'finish')!.id;
        if (task.checks?.length) publish(`turn ${turn - 1}: running checks`);
        const checked = await checkFinish(input, { workflowId, sandboxId, turn: turn - 1, finishToolUseId, fixRounds });
        // Failing checks with a fix round left: the agent reads why as finish's result and goes on.
        if (checked === 'again') {
          fixRounds++;
          continue;
        }
        const verification = mt.finish.verification ? `\n\nChecked: ${mt.finish.verification}` : '';
        outcome = { status: 'succeeded', summary: `${mt.finish.summary}${verification}`, ...checked };
        break;
      }
      if (mt.stopReason === 'refusal') {
        outcome = { status: 'failed', error: `the model refused the task: ${mt.text}` };
        break;
      }
      if (task.maxCostUsd !== undefined && costUsd >= task.maxCostUsd) {
        outcome = { status: 'incomplete', error: `spent $${costUsd.toFixed(4)}, reaching the task's max_cost_usd ($${task.maxCostUsd}); the work so far is kept` };
        break;
      }
    }
    if (!continuing) outcome = await deliver(input, { workflowId, sandboxId }, { ...totals(), ...outcome }, status);
  } catch (err) {
    const cause = causeType(err);
    // A policy breach halts the task: the agent tried something it must not do.
    if (cause?.type === 'PolicyViolation') outcome = { status: 'halted', error: cause.message };
    else throw err;
  } finally {
    if (sandboxId && !continuing) {
      const id = sandboxId;
      // Cleanup runs even when the task is cancelled: the work is copied out, then the sandbox goes.
      await CancellationScope.nonCancellable(async () => {
        try {
          const kept = await acts.keepWork({ workflowId, sandboxId: id });
          outcome = { ...outcome, workDir: kept.workDir };
          status.workDir = kept.workDir;
        } catch (err) {
          // Losing the copy must not turn a finished task into a failed one; the report says so.
          const why = causeType(err)?.message ?? (err instanceof Error ? err.message : String(err));
          outcome = { ...outcome, error: [outcome.error, `the workspace could not be kept: ${why}`].filter(Boolean).join('; ') };
        }
        await acts.killSandbox({ sandboxId: id });
      });
    }
  }

  if (continuing) {
    return continueAsNew<(i: AgentTaskInput) => Promise<TaskResult>>({
      ...input,
      carried: { turn, sandboxId: sandboxId!, startedAt: status.startedAt ?? Date.now(), costUsd, tokens, model: answeredBy, replay, costEstimated, runs: (carried?.runs ?? 0) + 1, fixRounds },
    });
  }
  return { ...totals(), ...outcome };
}
