/**
 * nightlyBatch: one workflow per night. Loads and validates the task file (in an
 * activity), walks the dependency DAG, runs each ready task as an `agentTask` child with
 * at most `max_concurrent_agents` at once, and returns every task's result.
 *
 * Deterministic code only. `Date.now()` here is Temporal's workflow clock, which replays
 * identically, not the host clock.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { bookkeeping, resultStore, storedReport } from '../activity-profiles';
import type { BatchSpec, TaskSpec } from '../../taskfile/types';
import {
  answerSignal,
  batchStatusQuery,
  cancelBatchUpdate,
  cancelTaskUpdate,
  failedTaskResult,
  FINAL_STATES,
  NO_TOKENS,
  SEARCH_ATTRIBUTES,
  taskWorkflowId,
  type BatchResult,
  type BatchStatus,
  type ResultsRef,
  type SpecRef,
  type TaskResult,
  type TaskState,
} from '../../contract';
import {
  BATCH_RESULTS_BY_REFERENCE_PATCH,
  BATCH_SPEC_BY_REFERENCE_PATCH,
  GRACEFUL_BATCH_CANCEL_PATCH,
  isPendingFolder,
  SCHEDULED_FOLDER_NIGHT_PATCH,
  type NightlyBatchInput,
  type TaskIndexEntry,
} from './messages';
import { BatchLive } from '../budget/batch-side';
import { addTotals, compactLedger, EndedStates, INLINE_RESULTS_MAX_TASKS, NO_TOTALS, recordBatches } from './results';
import { dependentsOf, readyTasks } from './dag';
import { domainError } from '../domain-error';
import { SpecError } from '../../common/errors';
import { Notifier } from '../notify';
import { dependencyBranches } from '../task/delivery';
import { fanOutFull } from './fan-out';
import { withFollowUpFirst } from '../followup/night';
import { PROGRESS_ROWS, progressTable, sumResults, type ProgressSummary } from './progress';
import { dateInZone, scheduledRun } from './schedule-date';
import { agentTask } from '../task/task';

const {
  loadBatchSpec,
  storeBatchSpec,
  readBatchSpecPart,
  readBatchSpecHeader,
  readBatchTask,
  writeReport,
  settleClaimedFiles,
  readTaskResults,
} = proxyActivities<Activities>(bookkeeping);
const { recordTaskResults } = proxyActivities<Activities>(resultStore());
const { writeStoredReport } = proxyActivities<Activities>(storedReport());

/**
 * Past this many history events the batch stops starting tasks, lets the running ones
 * finish and continues as new, so no run's history passes ~10,000 events however many
 * tasks the night holds.
 */
export const HISTORY_EVENT_LIMIT = 8_000;

/** A scheduled night takes its date from when it was scheduled for, whatever its files say. */
function dateFor(
  input: NightlyBatchInput,
  spec: Pick<BatchSpec, 'date'> | undefined,
  workflowId: string,
  startTime: Date,
): string {
  const scheduled = scheduledRun();
  if (!input.date && scheduled) return dateInZone(scheduled.scheduledAt, input.timezone);
  return (
    input.date ?? spec?.date ?? /(\d{4}-\d{2}-\d{2})/.exec(workflowId)?.[1] ?? startTime.toISOString().slice(0, 10)
  );
}

/** The night as the batch schedules it: its settings and, per task, at least its TaskIndexEntry fields. */
type NightPlan = Omit<BatchSpec, 'tasks'> & { tasks: (TaskSpec | TaskIndexEntry)[] };

/** The spec by reference: its header from the store (or stored now), then its task index part by part. */
async function loadByReference(
  input: NightlyBatchInput,
  batchId: string,
  claimAs: string | undefined,
): Promise<{ spec: NightPlan; ref: SpecRef }> {
  const carriedRef = input.carried?.specRef;
  const header = carriedRef
    ? await readBatchSpecHeader({ ref: carriedRef })
    : await storeBatchSpec({
        batchId,
        tasksFile: input.tasksFile,
        spec: input.spec,
        storedSpec: input.storedSpec,
        ...(claimAs !== undefined ? { claimAs } : {}),
      });
  const tasks: TaskIndexEntry[] = [];
  for (let part = 0; part < header.parts; part++) tasks.push(...(await readBatchSpecPart({ ref: header.ref, part })));
  return { spec: { ...header.settings, tasks }, ref: header.ref };
}

async function load(
  input: NightlyBatchInput,
  batchId: string,
  claimAs: string | undefined,
): Promise<{ spec: NightPlan; ref?: SpecRef }> {
  try {
    if (input.carried?.spec) return { spec: input.carried.spec };
    if (input.carried?.specRef || patched(BATCH_SPEC_BY_REFERENCE_PATCH))
      return await loadByReference(input, batchId, claimAs);
    return {
      spec: await loadBatchSpec({
        tasksFile: input.tasksFile,
        spec: input.spec,
        ...(claimAs !== undefined ? { claimAs } : {}),
      }),
    };
  } catch (err) {
    // A task file that does not validate fails the batch at once with every problem listed:
    // retrying the workflow task cannot fix the file.
    const { error } = domainError(err);
    if (error instanceof ApplicationFailure)
      throw ApplicationFailure.nonRetryable(error.message, error.type ?? SpecError.name, ...(error.details ?? []));
    throw err;
  }
}

export async function nightlyBatch(input: NightlyBatchInput): Promise<BatchResult> {
  const info = workflowInfo();
  const batchId = info.workflowId;
  const status: BatchStatus = {
    batchId,
    date: dateFor(input, undefined, batchId, info.startTime),
    state: 'loading',
    startedAt: input.carried?.startedAt ?? Date.now(),
    tasks: [],
    scheduleId: scheduledRun()?.scheduleId,
  };
  setHandler(batchStatusQuery, () => status);
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.batch, value: batchId },
    { key: SEARCH_ATTRIBUTES.status, value: 'running' },
  ]);

  // A scheduled night over a pending/ folder takes its files, so tomorrow's does not run them again.
  const claimAs = input.carried
    ? input.carried.claimedAs
    : input.tasksFile !== undefined &&
        isPendingFolder(input.tasksFile) &&
        scheduledRun() !== undefined &&
        patched(SCHEDULED_FOLDER_NIGHT_PATCH)
      ? batchId
      : undefined;
  let spec: NightPlan;
  let specRef: SpecRef | undefined;
  const followUpNotes: string[] = [];
  try {
    ({ spec, ref: specRef } = await load(
      await withFollowUpFirst(input, batchId, claimAs, followUpNotes),
      batchId,
      claimAs,
    ));
  } catch (err) {
    status.state = 'failed';
    status.error = err instanceof Error ? err.message : String(err);
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: 'invalid' }]);
    throw err;
  }
  const date = dateFor(input, spec, batchId, info.startTime);
  const tasks = new Map(spec.tasks.map((t) => [t.id, t]));
  const results: Record<string, TaskResult> = input.carried?.results ?? {};
  // By reference, a run holds the results of the tasks it ended; earlier runs' are in the
  // state store, and of them the run knows only each one's state (and their totals).
  const resultsRef: ResultsRef | undefined = input.carried
    ? input.carried.resultsRef
    : specRef !== undefined && patched(BATCH_RESULTS_BY_REFERENCE_PATCH)
      ? { batchId, night: info.firstExecutionRunId }
      : undefined;
  const positions = new Map(spec.tasks.map((t, i) => [t.id, i]));
  const ended = new EndedStates(spec.tasks.length, input.carried?.states);
  const earlierTotals = input.carried?.totals ?? NO_TOTALS;
  const stateOf = (id: string): TaskState | undefined => results[id]?.status ?? ended.state(positions.get(id)!);
  /** What the status shows of a task: its result, or for one ended in an earlier run, its state (the rest is in the store). */
  const resultOf = (id: string): TaskResult | undefined => {
    if (results[id]) return results[id];
    const state = ended.state(positions.get(id)!);
    return state && { taskId: id, status: state, costUsd: 0, tokens: NO_TOKENS, turns: 0 };
  };
  /** Ended in this run and not yet written to the store. */
  const unrecorded: string[] = [];
  /** Why a running task is being cancelled: its result says so as it ends, before it is stored. */
  const cancelReasons = new Map<string, string>();
  const running = new Set<string>();
  /** Tasks whose child workflow the server has started (running also holds ones still starting). */
  const childStarted = new Set<string>();
  let changed = false;
  const historyLimit = input.historyEventLimit ?? HISTORY_EVENT_LIMIT;

  // A task whose workflow returned is final even if it ended waiting (parked) or paused by the budget.
  const isFinal = (id: string) => {
    const r = results[id];
    if (r === undefined) return ended.state(positions.get(id)!) !== undefined;
    return FINAL_STATES.includes(r.status) || (!running.has(id) && r.endedAt !== undefined);
  };
  /** Every ended task's result goes through here, so a night by reference stores each once. */
  const settle = (id: string, result: TaskResult) => {
    results[id] = result;
    if (resultsRef) unrecorded.push(id);
  };
  let recording: Promise<void> | undefined;
  const recordEnded = async (ref: ResultsRef): Promise<void> => {
    try {
      while (unrecorded.length) {
        const done = unrecorded.splice(0).map((id) => results[id]);
        // Stored even while the night is being cancelled: its report reads them.
        for (const part of recordBatches(done))
          await CancellationScope.nonCancellable(() => recordTaskResults({ ref, results: part }));
      }
    } finally {
      recording = undefined;
    }
  };
  /** Before the run continues as new or writes the report: every ended task's result is in the store. */
  const allRecorded = async (ref: ResultsRef): Promise<void> => {
    while (unrecorded.length || recording) {
      recording ??= recordEnded(ref);
      await recording;
    }
  };
  const notes: string[] = [...(input.carried?.notes ?? []), ...followUpNotes];
  const notifier = new Notifier({ workflowId: batchId, batchId, settings: spec.notify }, notes);
  const live: BatchLive = new BatchLive({
    batchId,
    capUsd: spec.maxCostUsd,
    dailyCapUsd: spec.dailyMaxCostUsd,
    ledger: input.carried?.budget,
    taskIds: new Set(tasks.keys()),
    isRunning: (id) => running.has(id),
    notifier,
    notes,
    changed: () => refresh(),
  });
  live.listen();
  // Building the status (and its progress table) walks every task: with 10,000 of them,
  // doing it on each change overran the workflow task's time. A change only marks it stale;
  // it is rebuilt once per wake-up, for a query, and before the report.
  let statusStale = true;
  let detailsStale = true;
  const refresh = () => {
    statusStale = true;
    detailsStale = true;
    changed = true;
  };
  const currentStatus = (): BatchStatus => {
    if (!statusStale) return status;
    statusStale = false;
    status.date = date;
    status.state = spec.tasks.every((t) => isFinal(t.id)) ? 'completed' : 'running';
    status.source = spec.source;
    status.maxConcurrentAgents = spec.maxConcurrentAgents;
    status.tasks = spec.tasks.map((t) => ({
      ...(resultOf(t.id) ?? { taskId: t.id, status: 'pending', costUsd: 0, tokens: NO_TOKENS, turns: 0 }),
      ...(running.has(t.id) && live.states.has(t.id) ? { status: live.states.get(t.id)! } : {}),
      title: t.title,
      ...(t.repoName ? { repo: t.repoName } : {}),
      workflowId: taskWorkflowId(batchId, t.id),
      complexity: t.complexity,
      role: t.role,
    }));
    status.budget = live.budget();
    status.questions = live.openQuestions(Date.now());
    status.notes = notes.length ? [...notes] : undefined;
    return status;
  };
  /** A task's state as the status shows it: a running task's own last word (a question, a pause) over its batch's. */
  const shownState = (id: string): TaskState =>
    running.has(id) && live.states.has(id) ? live.states.get(id)! : (stateOf(id) ?? 'pending');
  const publishDetails = () => {
    if (!detailsStale) return;
    detailsStale = false;
    // Counted from the states, not from a whole status: building 10,000 task rows on every
    // wake-up took most of each workflow task's time and starved the night.
    const summary: ProgressSummary = {
      state: spec.tasks.every((t) => isFinal(t.id)) ? 'completed' : 'running',
      budget: live.budget(),
      questions: live.openQuestions(Date.now()),
      counts: new Map(),
      rows: [],
      total: spec.tasks.length,
    };
    for (const t of spec.tasks) {
      const state = shownState(t.id);
      summary.counts.set(state, (summary.counts.get(state) ?? 0) + 1);
      if (state === 'pending' || summary.rows.length >= PROGRESS_ROWS) continue;
      const r = resultOf(t.id);
      summary.rows.push({
        taskId: t.id,
        status: state,
        costUsd: r?.costUsd ?? 0,
        error: r?.error,
        summary: r?.summary,
      });
    }
    setCurrentDetails(progressTable(summary));
  };
  setHandler(batchStatusQuery, currentStatus);

  /** A task that will not succeed takes every task that depends on it down with it. */
  const skipDependents = (id: string) => {
    const st = stateOf(id)!;
    // A parked or paused task's dependents are held: they need its work, which is kept but not done.
    const why =
      st === 'waiting_for_answer'
        ? `held: dependency ${id} is parked waiting for an answer`
        : st === 'paused_budget'
          ? `held: dependency ${id} was stopped by the budget`
          : `dependency ${id} ${st}`;
    for (const dep of dependentsOf(spec.tasks, id)) {
      if (stateOf(dep) !== undefined) continue;
      settle(dep, {
        taskId: dep,
        status: 'skipped',
        error: why,
        costUsd: 0,
        tokens: NO_TOKENS,
        turns: 0,
        endedAt: Date.now(),
      });
    }
  };

  const finish = (id: string, result: TaskResult) => {
    const reason = cancelReasons.get(id);
    settle(id, {
      ...result,
      endedAt: result.endedAt ?? Date.now(),
      ...(reason !== undefined && result.status === 'cancelled' ? { error: reason } : {}),
    });
    running.delete(id);
    live.taskEnded(id, result.costUsd);
    if (result.status !== 'succeeded') skipDependents(id);
    if (result.status === 'failed' || result.status === 'halted') {
      const event = result.status === 'halted' ? 'halted' : 'failed';
      notifier.send(
        event,
        `task-${event}-${id}`,
        `${id} ${result.status}`,
        `${id} (${tasks.get(id)?.title ?? id}) ${result.status}: ${result.error ?? 'no reason given'}`,
      );
    }
    refresh();
  };

  /** The results a task starts from: those its run holds, and from the store those of earlier runs that delivered a branch here. */
  const dependencyResults = async (ref: ResultsRef, task: TaskSpec): Promise<Record<string, TaskResult>> => {
    const own = Object.fromEntries(task.dependsOn.filter((d) => results[d]).map((d) => [d, results[d]]));
    const stored = task.dependsOn.filter(
      (d) => !results[d] && ended.delivered(positions.get(d)!) && tasks.get(d)?.repo === task.repo,
    );
    if (stored.length === 0) return own;
    for (const r of await readTaskResults({ ref, taskIds: stored })) own[r.taskId] = r;
    return own;
  };

  /** Tasks this run started: a run continues as new only after it has started some, so a night always moves on. */
  let startedThisRun = 0;
  const runTask = async (entry: TaskSpec | TaskIndexEntry): Promise<void> => {
    const startedAt = Date.now();
    running.add(entry.id);
    startedThisRun++;
    results[entry.id] = { taskId: entry.id, status: 'running', costUsd: 0, tokens: NO_TOKENS, turns: 0, startedAt };
    refresh();
    try {
      // By reference the run holds only the index; the child's input needs the whole task.
      // Without a reference the night was loaded whole (loadBatchSpec, or a carried spec): every entry is a TaskSpec.
      const task =
        specRef && 'index' in entry ? await readBatchTask({ ref: specRef, index: entry.index }) : (entry as TaskSpec);
      const dependencies = dependencyBranches(
        task,
        resultsRef ? await dependencyResults(resultsRef, task) : results,
        tasks,
      );
      const child = await startChild(agentTask, {
        workflowId: taskWorkflowId(batchId, task.id),
        args: [{ batchId, date, task, dependencies, ...(spec.notify ? { notify: spec.notify } : {}) }],
        staticSummary: `${task.id} · ${task.title}`,
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTES.batch, value: batchId },
          { key: SEARCH_ATTRIBUTES.task, value: task.id },
          { key: SEARCH_ATTRIBUTES.status, value: 'running' },
          ...(task.repoName || task.repo ? [{ key: SEARCH_ATTRIBUTES.repo, value: task.repoName ?? task.repo! }] : []),
        ],
      });
      childStarted.add(task.id);
      changed = true;
      finish(task.id, await child.result());
    } catch (err) {
      // A failed or halted task fails its workflow and carries its result (workflows/task/task.ts).
      const failed = failedTaskResult(err);
      if (failed) return finish(entry.id, failed);
      const failure = domainError(err);
      finish(entry.id, {
        ...results[entry.id],
        status: isCancellation(err) || isCancellation(failure.error) ? 'cancelled' : 'failed',
        error: failure.message,
        endedAt: Date.now(),
      });
    }
  };

  /** Cancels one task: not started, it is cancelled with the reason; running, its workflow is cancelled and its own result stands. */
  const cancelOne = async (taskId: string, reason: string | undefined): Promise<void> => {
    if (!isFinal(taskId) && !running.has(taskId)) {
      settle(taskId, {
        taskId,
        status: 'cancelled',
        error: reason ?? 'cancelled before it started',
        costUsd: 0,
        tokens: NO_TOKENS,
        turns: 0,
        endedAt: Date.now(),
      });
      skipDependents(taskId);
      refresh();
    } else if (running.has(taskId)) {
      if (reason) cancelReasons.set(taskId, reason);
      await condition(() => childStarted.has(taskId) || isFinal(taskId));
      if (!isFinal(taskId)) {
        await getExternalWorkflowHandle(taskWorkflowId(batchId, taskId))
          .cancel()
          .catch(() => undefined);
      }
      await condition(() => isFinal(taskId));
      if (reason && results[taskId].status === 'cancelled') results[taskId] = { ...results[taskId], error: reason };
    }
  };

  /** Set once the whole night is being cancelled: nothing new starts. */
  let cancelling: string | undefined;
  const cancelAll = async (reason: string): Promise<void> => {
    cancelling ??= reason;
    await Promise.all(spec.tasks.map((t) => cancelOne(t.id, `night cancelled: ${reason}`)));
    refresh();
  };

  setHandler(cancelBatchUpdate, async ({ reason }) => {
    await cancelAll(reason ?? 'cancelled');
    return spec.tasks.map((t) => resultOf(t.id)!);
  });

  setHandler(
    cancelTaskUpdate,
    async ({ taskId, reason }) => {
      await cancelOne(taskId, reason);
      return resultOf(taskId)!;
    },
    {
      validator: ({ taskId }) => {
        if (!tasks.has(taskId)) throw new Error(`no task "${taskId}" in batch ${batchId}`);
      },
    },
  );

  setHandler(answerSignal, async ({ taskId, text, questionId, by }) => {
    // Answers sent to the batch are routed to the task they name.
    if (!taskId || !running.has(taskId)) return;
    await getExternalWorkflowHandle(taskWorkflowId(batchId, taskId)).signal(answerSignal, {
      text,
      questionId,
      ...(by ? { by } : {}),
    });
  });

  let cancelledBy: unknown;
  refresh();
  for (;;) {
    const nearHistoryLimit = workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit;
    // A run whose loading alone came near the limit still starts a round of tasks before it continues as new.
    const mayStart = !nearHistoryLimit || (specRef !== undefined && startedThisRun === 0);
    if (mayStart && cancelling === undefined) {
      const succeeded = new Set(spec.tasks.filter((t) => stateOf(t.id) === 'succeeded').map((t) => t.id));
      const started = new Set(spec.tasks.filter((t) => stateOf(t.id) !== undefined).map((t) => t.id));
      for (const id of readyTasks(spec.tasks, succeeded, started)) {
        if (running.size >= spec.maxConcurrentAgents) break;
        if (fanOutFull(tasks.get(id)!, running, tasks)) continue;
        void runTask(tasks.get(id)!);
      }
    }
    if (spec.tasks.every((t) => isFinal(t.id))) break;
    if (nearHistoryLimit && running.size === 0 && !mayStart) {
      await condition(allHandlersFinished);
      await Promise.all([notifier.flush(), live.flush()]);
      if (resultsRef) await allRecorded(resultsRef);
      // The batch is pinned (versioning.ts); its next run starts on the current version, so a
      // deploy reaches a long night here, where no task of this run is still open. Servers
      // without upgrade-on-continue-as-new ignore the option and keep the run's version.
      // By reference the next run reads the spec from the store: an inline spec (10,000 tasks: half a megabyte) is not carried again.
      const { spec: _inlineSpec, ...inputByReference } = input;
      return makeContinueAsNewFunc<typeof nightlyBatch>({ initialVersioningBehavior: 'AUTO_UPGRADE' })({
        ...(resultsRef ? inputByReference : input),
        carried: {
          ...(specRef ? { specRef } : { spec: spec as BatchSpec }),
          ...(claimAs !== undefined ? { claimedAs: claimAs } : {}),
          startedAt: status.startedAt,
          ...(resultsRef
            ? {
                results: {},
                resultsRef,
                states: ended.pack(
                  spec.tasks.map((t) => t.id),
                  results,
                ),
                totals: addTotals(earlierTotals, sumResults(Object.values(results))),
                budget: compactLedger(live.ledger, Object.keys(results)),
              }
            : { results, budget: live.ledger }),
          runs: (input.carried?.runs ?? 0) + 1,
          notes,
        },
      });
    }
    if (resultsRef && unrecorded.length && !recording) recording = recordEnded(resultsRef);
    publishDetails();
    changed = false;
    try {
      await condition(() => changed);
    } catch (err) {
      // Cancelled through Temporal (Web UI, `temporal workflow cancel`): end like `nightshift cancel BATCH`.
      if (!isCancellation(err) || !patched(GRACEFUL_BATCH_CANCEL_PATCH)) throw err;
      cancelledBy = err;
      await CancellationScope.nonCancellable(() => cancelAll('cancelled through Temporal'));
      break;
    }
  }

  // A night cancelled through Temporal still records its tasks and writes its report, then ends Cancelled.
  if (cancelledBy) {
    const why = cancelledBy;
    await CancellationScope.nonCancellable(() => endNight());
    throw why;
  }
  return endNight();

  async function endNight(): Promise<BatchResult> {
    await condition(allHandlersFinished);
    status.endedAt = Date.now();
    refresh();
    publishDetails();
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.status, value: cancelling !== undefined ? 'cancelled' : 'completed' },
    ]);
    const totals = resultsRef
      ? addTotals(earlierTotals, sumResults(Object.values(results)))
      : sumResults(Object.values(results));
    if (claimAs !== undefined && input.tasksFile !== undefined) {
      const outcomes = spec.tasks.map((t) => ({
        file: ('source' in t ? t.source.file : (t.sourceFile ?? '')).split('/').pop()!,
        status: stateOf(t.id),
        error: results[t.id]?.error,
      }));
      await settleClaimedFiles({ pendingDir: input.tasksFile, night: claimAs, outcomes }).catch((err: unknown) => {
        notes.push(`the night's task files could not be moved out of running/: ${domainError(err).message}`);
      });
    }
    // The work is done and recorded in this result whatever happens to the report files.
    if (resultsRef) await allRecorded(resultsRef);
    const report = await (
      resultsRef && specRef
        ? writeStoredReport({
            status: { ...currentStatus(), tasks: [] },
            budgetUsd: spec.maxCostUsd,
            spec: specRef,
            results: resultsRef,
          })
        : writeReport({ status: currentStatus(), budgetUsd: spec.maxCostUsd })
    ).catch((err: unknown) => ({
      error: domainError(err).message,
    }));
    status.report = report;
    const count = (st: string) => spec.tasks.filter((t) => stateOf(t.id) === st).length;
    notifier.send(
      'batch_finished',
      'batch-finished',
      `${batchId} finished`,
      `${spec.tasks.length} tasks: ${count('succeeded')} succeeded, ${count('failed')} failed, ${count('skipped')} skipped, ${count('waiting_for_answer')} parked, ${count('paused_budget')} stopped by budget. Spent $${totals.costUsd.toFixed(2)} of $${live.ledger.capUsd.toFixed(2)}.` +
        ('markdown' in report ? `\nReport: ${report.markdown}` : ''),
      { status: 'completed', costUsd: totals.costUsd, report },
    );
    await Promise.all([notifier.flush(), live.flush()]);
    // A night that continued as new holds only its last run's results: a small one reads the rest back, a large one points to them.
    const earlier = resultsRef
      ? spec.tasks.filter((t) => !results[t.id] && stateOf(t.id) !== undefined).map((t) => t.id)
      : [];
    const listed =
      earlier.length === 0 || spec.tasks.length <= (input.inlineResultsMaxTasks ?? INLINE_RESULTS_MAX_TASKS);
    if (resultsRef && earlier.length && listed)
      for (const r of await readTaskResults({ ref: resultsRef, taskIds: earlier })) results[r.taskId] = r;
    return {
      report,
      batchId,
      scheduleId: status.scheduleId,
      date,
      source: spec.source,
      startedAt: status.startedAt,
      endedAt: status.endedAt,
      ...totals,
      tasks: listed
        ? spec.tasks.map((t) => ({
            ...results[t.id],
            title: t.title,
            complexity: t.complexity,
            role: t.role,
            ...(t.repoName ? { repo: t.repoName } : {}),
          }))
        : [],
      ...(resultsRef && specRef
        ? { stored: { spec: specRef, results: resultsRef, taskCount: spec.tasks.length } }
        : {}),
    };
  }
}
