/**
 * The durable agent loop (design.md, "Why each model call is its own activity"): each
 * model turn is one `callModel` activity and each tool call one `runTool` activity, so a
 * worker that dies loses at most the step in flight. The transcript stays in the store;
 * this code sees only stop reasons, tool call ids and names, usage and short texts.
 *
 * Deterministic code only.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { ModelTurn } from '../../activities/model/call-model';
import type { Activities } from '../../activities';
import {
  bookkeeping,
  HEARTBEAT_TIMEOUT_MS,
  modelCall,
  modelCallOnce,
  onHost,
  sandboxStep,
  toolCall,
  type SandboxHost,
} from '../activity-profiles';
import { CACHE_TTL_5M_MS, priceOf, resolveModel } from '../../common/models';
import { roundUsdNano } from '../../common/money';
import { CACHE_KEPT_WARM_PATCH, keepAliveAfterMs, keepAliveWorthIt } from './cache-warmth';
import { CANCELLED_TASK_KEEPS_RESULT_PATCH, type AgentTaskInput } from './messages';
import { type InterruptedCall, type TaskResult, type TaskStatus, type TokenUsage } from '../../contract';
import { Notifier } from '../notify';
import { taskDetails } from '../night/progress';
import { AnswerInbox, askHuman } from '../questions/ask-human';
import { taskSetting } from '../../taskfile/defaults';
import {
  allowanceGrantor,
  bookTurn,
  callWithBookedAttempts,
  keepAliveFits,
  newTaskBudget,
  PER_ATTEMPT_BOOKING_PATCH,
  RaiseInbox,
  reserveTurn,
  type TaskBudgetContext,
} from '../budget/task-side';
import { checkBaseline, checkFinish, deliver, prepareFromDependencies } from './delivery';
import { domainError } from '../domain-error';
import { PolicyViolation } from '../../common/errors';
import { TaskSandbox } from './sandbox';
import { newProgressState, nudgeText, observeTurn, type CallSeen } from './progress-guard';

/** patched() ID of the no-progress guard: nudge, then stop a task that keeps doing the same thing. */
export const PROGRESS_GUARD_PATCH = 'no-progress-guard';

/** Lost sandboxes rebuilt for one tool call before the task gives up. */
const SANDBOX_RECOVERIES_PER_CALL = 2;

/**
 * Model calls go to the model queue; what touches the sandbox goes to its host. Making,
 * rebuilding and removing the sandbox is TaskSandbox's (workflows/task/sandbox.ts).
 */
function proxies(heartbeatTimeout: number, host: SandboxHost) {
  const model = proxyActivities<Activities>(modelCall(heartbeatTimeout));
  const modelOnce = proxyActivities<Activities>(modelCallOnce(heartbeatTimeout));
  const tool = proxyActivities<Activities>(onHost(toolCall(heartbeatTimeout), host));
  const onSandbox = proxyActivities<Activities>(onHost(sandboxStep(heartbeatTimeout), host));
  // Named one by one: the proxies are Proxy objects, which spreading would leave empty.
  return {
    callModel: model.callModel,
    callModelOnce: modelOnce.callModel,
    keepCacheWarm: modelOnce.keepCacheWarm,
    runTool: tool.runTool,
    prepareAgent: onSandbox.prepareAgent,
    addNote: proxyActivities<Activities>(bookkeeping).addNote,
  };
}

function addUsage(a: TokenUsage, b: TokenUsage): void {
  a.input += b.input;
  a.output += b.output;
  a.cacheWrite += b.cacheWrite;
  a.cacheRead += b.cacheRead;
}

/**
 * Runs the loop for `input.task` and returns how it ended. Updates `status` (the task's
 * `status` query) as it goes. May continue-as-new, carrying the turn, totals and sandbox.
 * `storeKey` is what the run's records are kept under (contract.ts taskRunKey).
 */
export async function runAgentLoop(
  input: AgentTaskInput,
  status: TaskStatus,
  storeKey: string,
): Promise<Partial<TaskResult>> {
  const { task } = input;
  const workflowId = workflowInfo().workflowId;
  const opts = input.loop ?? {};
  const heartbeatTimeout = opts.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  // A remote sandbox's steps go to its provider's queue from the first; a local one's to its creator's host once made.
  const sandbox: TaskSandbox = new TaskSandbox(input, storeKey, {
    heartbeatTimeout,
    hostScheduleToStartMs: opts.hostScheduleToStartMs,
    recoveries: SANDBOX_RECOVERIES_PER_CALL,
    carried: input.carried,
    placeCreatorNow: true,
    onMoved: () => (acts = proxies(heartbeatTimeout, sandbox.host)),
    onRebuild: (why) => publish(`turn ${turn}: ${why}, rebuilding it from its last checkpoint`),
  });
  const host = sandbox.host;
  let acts = proxies(heartbeatTimeout, host);
  const model = resolveModel(task.model, task.complexity);
  const carried = input.carried;

  let turn = carried?.turn ?? 1;
  const tokens = carried ? { ...carried.tokens } : { ...status.tokens };
  let costUsd = carried?.costUsd ?? 0;
  let answeredBy = carried?.model;
  let replay = carried?.replay ?? false;
  let costEstimated = carried?.costEstimated ?? false;
  let fixRounds = carried?.fixRounds ?? 0;
  let integrityTold = carried?.integrityTold ?? false;
  // Runs begun before the guard existed go on without it, so their histories replay as they were.
  const guarded = patched(PROGRESS_GUARD_PATCH);
  const progress = carried?.progress ?? newProgressState();
  const interruptedCalls: InterruptedCall[] = [...(carried?.interruptedCalls ?? [])];
  const runStartTurn = turn;
  let continuing = false;
  // Questions and budget (workflows/questions/ask-human.ts, workflows/budget/task-side.ts): handlers first, so no signal is missed.
  const inbox = new AnswerInbox(carried?.answers ? [...carried.answers] : []);
  inbox.listen();
  const raises = new RaiseInbox();
  raises.listen();
  const assumptions = [...(carried?.assumptions ?? [])];
  const answeredQuestions = [...(carried?.answeredQuestions ?? [])];
  const notes = [...(carried?.notes ?? [])];
  let waitedMs = carried?.waitedMs ?? 0;
  const notifier = new Notifier(
    { workflowId: storeKey, batchId: input.batchId, taskId: task.id, settings: input.notify },
    notes,
  );
  const maxTokens = opts.maxTokens ?? 8192;
  const budget: TaskBudgetContext = {
    state: carried?.budget ?? newTaskBudget(0),
    status,
    storeKey,
    notifier,
    notes,
    model,
    maxTokens,
    capUsd: task.maxCostUsd,
    allowanceFrom: allowanceGrantor(input),
    remainingMs: () => task.timeoutMs - (Date.now() - (status.startedAt ?? Date.now()) - waitedMs),
    ...(opts.cacheLifetimeMs !== undefined ? { cacheLifetimeMs: opts.cacheLifetimeMs } : {}),
  };
  // Runs begun before keep-alives replay as they were: no keep-alive, the TTL chosen by the activity.
  const keepWarm = patched(CACHE_KEPT_WARM_PATCH);
  let keepAlivesSent = 0;
  /**
   * Waits for `work` (a tool call, a question, the checks) while keeping turn `forTurn`'s
   * prompt cache warm: each time the cache nears the end of its five minutes, a keep-alive
   * reads it again, as long as that is cheaper than the rewrite it avoids and fits the budget.
   * A keep-alive that fails only lets the cache go.
   */
  const keptWarm = async <T>(forTurn: number, contextTokens: number, work: Promise<T>): Promise<T> => {
    const price = priceOf(model);
    if (!keepWarm || !price || budget.state.cacheTouchedAt === undefined) return work;
    let settled = false;
    work.then(
      () => (settled = true),
      () => (settled = true),
    );
    // Once the task writes for an hour, its entries live twelve times as long and a rewrite costs the 1-hour rate.
    const long = budget.state.longCacheTtl === true;
    const lifetimeMs = (opts.cacheLifetimeMs ?? CACHE_TTL_5M_MS) * (long ? 12 : 1);
    const rates = { cacheRead: price.cacheRead, cacheWrite: long ? price.cacheWrite1h : price.cacheWrite };
    for (let sent = 0; keepAliveWorthIt(sent, rates); sent++) {
      const due = budget.state.cacheTouchedAt + keepAliveAfterMs(lifetimeMs) - Date.now();
      if (await condition(() => settled, Math.max(1, due))) break;
      if (!keepAliveFits(budget, costUsd, contextTokens)) break;
      const at = Date.now();
      try {
        const kept = await acts.keepCacheWarm({
          workflowId: storeKey,
          turn: forTurn,
          seq: ++keepAlivesSent,
          model,
          ...(task.effort ? { effort: task.effort } : {}),
        });
        addUsage(tokens, kept.usage);
        costUsd += kept.costUsd;
        costEstimated ||= kept.costEstimated;
        budget.state.cacheTouchedAt = at;
      } catch (err) {
        if (isCancellation(err)) throw err;
        break;
      }
    }
    return work;
  };

  const totals = (): Partial<TaskResult> => ({
    costUsd: roundUsdNano(costUsd),
    tokens: { ...tokens },
    turns: turn - 1,
    ...(answeredBy ? { model: answeredBy } : {}),
    ...(replay ? { replay } : {}),
    ...(costEstimated ? { costEstimated } : {}),
    ...(interruptedCalls.length ? { interruptedCalls: [...interruptedCalls] } : {}),
    ...(sandbox.hostsLost ? { sandboxesLost: sandbox.hostsLost } : {}),
    ...(assumptions.length ? { assumptions: [...assumptions] } : {}),
    ...(answeredQuestions.length ? { answeredQuestions: [...answeredQuestions] } : {}),
    ...(notes.length ? { notes: [...notes] } : {}),
  });
  const publish = (activity: string) => {
    Object.assign(status, totals(), { activity });
    setCurrentDetails(taskDetails(status, Date.now()));
  };

  let outcome: Partial<TaskResult> = {};
  try {
    if (!sandbox.id) {
      status.activity = 'creating sandbox';
      await sandbox.create();
    }
    if (!carried) {
      status.activity = 'preparing workspace';
      await sandbox.run((id) => prepareFromDependencies(input, id, storeKey, host));
      if (task.checks?.length) status.activity = 'running the checks on the base';
      await checkBaseline(input, storeKey, notes);
      const prepared = await sandbox.run((id) => acts.prepareAgent({ workflowId: storeKey, sandboxId: id, task }));
      budget.state = newTaskBudget(prepared.promptChars);
    }

    for (;;) {
      if (turn > task.maxTurns) {
        outcome = {
          status: 'incomplete',
          error: `reached max_turns (${task.maxTurns}) before the agent called finish; the work so far is kept`,
        };
        break;
      }
      // Workflow time, so replay agrees; a task that runs past its timeout stops between turns with its work kept.
      if (budget.remainingMs() < 0) {
        outcome = {
          status: 'incomplete',
          error: `ran past its timeout (${Math.round(task.timeoutMs / 60_000)} min) before the agent called finish; the work so far is kept`,
        };
        break;
      }
      const every = opts.continueAsNewEveryTurns;
      if (workflowInfo().continueAsNewSuggested || (every !== undefined && turn - runStartTurn >= every)) {
        continuing = true;
        break;
      }

      const effort = task.effort ? { effort: task.effort } : {};
      let mt: ModelTurn;
      if (patched(PER_ATTEMPT_BOOKING_PATCH)) {
        const called = await callWithBookedAttempts(budget, raises, {
          turn,
          spent: () => costUsd,
          book: (usd) => (costUsd += usd),
          interrupted: interruptedCalls,
          call: (attempt) => {
            if (!keepWarm)
              return acts.callModelOnce({ workflowId: storeKey, turn, model, maxTokens, attempt, ...effort });
            budget.state.cacheTouchedAt = Date.now();
            keepAlivesSent = 0;
            return acts.callModelOnce({
              workflowId: storeKey,
              turn,
              model,
              maxTokens,
              attempt,
              cacheTtl: budget.state.longCacheTtl ? '1h' : '5m',
              ...effort,
            });
          },
          say: (line) => publish(`turn ${turn}: ${line}`),
        });
        waitedMs += called.waitedMs;
        if (!called.result) {
          outcome = called.end;
          break;
        }
        mt = called.result;
      } else {
        const reserved = await reserveTurn(budget, raises, turn, costUsd);
        waitedMs += reserved.waitedMs;
        if (!reserved.go) {
          outcome = reserved.end;
          break;
        }
        publish(`turn ${turn}: calling ${model}`);
        mt = await acts.callModel({ workflowId: storeKey, turn, model, maxTokens, ...effort });
      }
      addUsage(tokens, mt.usage);
      costUsd += mt.costUsd;
      answeredBy = mt.model;
      replay ||= mt.replay;
      costEstimated ||= mt.costEstimated;

      let addedChars = 0;
      let ended: Partial<TaskResult> | undefined;
      const seen: CallSeen[] = [];
      let treeAfter: string | undefined;
      for (const call of mt.toolCalls) {
        if (call.name === 'finish' || ended) continue;
        publish(`turn ${turn}: ${call.name} ${call.summary}`);
        if (call.name === 'ask_human') {
          const asked = await keptWarm(
            turn,
            mt.contextTokens,
            askHuman({
              batchId: input.batchId,
              storeKey,
              turn,
              toolUseId: call.id,
              status,
              inbox,
              notifier,
              timeoutMs: taskSetting(task, 'questionTimeoutMs'),
              onTimeout: taskSetting(task, 'onQuestionTimeout'),
            }),
          );
          waitedMs += asked.waitedMs;
          addedChars += asked.resultChars;
          if (asked.assumption) assumptions.push(asked.assumption);
          if (asked.answered) answeredQuestions.push(asked.answered);
          ended = asked.end;
          continue;
        }
        // A sandbox that is gone, alone or with its host, is rebuilt from the last checkpoint and the call runs there.
        const ran = await sandbox.run(
          (id) =>
            keptWarm(
              turn,
              mt.contextTokens,
              acts.runTool({ workflowId: storeKey, turn, toolUseId: call.id, sandboxId: id }),
            ),
          { alsoWhenGone: true },
        );
        addedChars += ran.chars;
        if (ran.callHash && ran.resultHash)
          seen.push({ call: ran.callHash, result: ran.resultHash, summary: `${call.name}: ${call.summary}` });
        if (ran.tree) treeAfter = ran.tree;
      }
      turn++;
      bookTurn(budget, costUsd, mt.contextTokens, mt.usage.output, addedChars);
      publish(`turn ${turn - 1} done`);
      if (ended) {
        outcome = ended;
        break;
      }
      if (guarded && !mt.finish) {
        const v = observeTurn(
          progress,
          { turn: turn - 1, calls: seen, ...(treeAfter ? { tree: treeAfter } : {}) },
          task.noProgress,
        );
        if (v.verdict === 'nudge') {
          notes.push(`no progress seen after turn ${turn - 1} (${v.why}): the agent was nudged`);
          await acts.addNote({ workflowId: storeKey, turn: turn - 1, text: nudgeText(v.why) });
        } else if (v.verdict === 'stuck') {
          outcome = {
            status: 'stuck',
            error: `stopped after turn ${turn - 1}: still no progress after a nudge (${v.why}); the work so far is kept`,
          };
          break;
        }
      }

      if (mt.finish) {
        const finishToolUseId = mt.toolCalls.find((c) => c.name === 'finish')!.id;
        if (task.checks?.length) publish(`turn ${turn - 1}: running checks`);
        const checked = await keptWarm(
          turn - 1,
          mt.contextTokens,
          sandbox.run((id) =>
            checkFinish(
              input,
              { workflowId: storeKey, sandboxId: id, turn: turn - 1, finishToolUseId, fixRounds, integrityTold },
              host,
            ),
          ),
        );
        // Failing checks with a fix round left, or weakened tests: the agent reads why as finish's result and goes on.
        if ('again' in checked) {
          if (checked.again === 'checks') fixRounds++;
          integrityTold ||= checked.integrityTold;
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
    }
    if (!continuing) {
      const ended = outcome;
      outcome = await sandbox.run((id) =>
        deliver(input, { workflowId, storeKey, sandboxId: id }, { ...totals(), ...ended }, status, host),
      );
    }
  } catch (err) {
    const failure = domainError(err);
    // A policy breach halts the task: the agent tried something it must not do.
    if (failure.type === PolicyViolation.name) outcome = { status: 'halted', error: failure.message };
    else if (isCancellation(err) && sandbox.id && patched(CANCELLED_TASK_KEEPS_RESULT_PATCH)) {
      // Cancelled: what the agent did so far is delivered as a draft before the sandbox goes.
      const cancelled: Partial<TaskResult> = {
        ...totals(),
        status: 'cancelled',
        error: 'cancelled; the work so far is kept',
      };
      outcome = await CancellationScope.nonCancellable(() =>
        sandbox.run((id) => deliver(input, { workflowId, storeKey, sandboxId: id }, cancelled, status, host)),
      );
      Object.assign(status, outcome);
      throw err;
    } else throw err;
  } finally {
    // Cleanup runs even when the task is cancelled: the work is copied out, then the sandbox goes.
    if (sandbox.id && !continuing) outcome = await sandbox.release(outcome, status);
  }

  await notifier.flush();
  if (continuing) {
    return continueAsNew<(i: AgentTaskInput) => Promise<TaskResult>>({
      ...input,
      carried: {
        turn,
        storeKey,
        sandboxId: sandbox.id!,
        startedAt: status.startedAt ?? Date.now(),
        costUsd,
        tokens,
        model: answeredBy,
        replay,
        costEstimated,
        runs: (carried?.runs ?? 0) + 1,
        answers: inbox.answers,
        budget: budget.state,
        assumptions,
        answeredQuestions,
        notes,
        waitedMs,
        fixRounds,
        ...(integrityTold ? { integrityTold } : {}),
        ...(guarded ? { progress } : {}),
        ...(interruptedCalls.length ? { interruptedCalls } : {}),
        ...(host.taskQueue ? { sandboxQueue: host.taskQueue } : {}),
        ...(sandbox.hostsLost ? { sandboxesLost: sandbox.hostsLost } : {}),
      },
    });
  }
  return { ...totals(), ...outcome };
}
