/**
 * nightshiftIntake: folder mode's orchestrator over a tasks folder. It reads `pending/` (a
 * polling activity) and takes tasks queued by Update `addTasks`, runs each as an
 * `agentTask` child within the daily budget, and moves its file pending/ -> running/ ->
 * completed/ or failed/. Modes: `once` (the best ready task), `batch` (every ready task,
 * until none is left), `continuous` (until cancelled).
 *
 * Children are started with ParentClosePolicy ABANDON and awaited through an activity,
 * so a task in flight outlives the intake's continue-as-new: the next run waits on it by
 * workflow ID. Every run starts by reconciling running/ against what it knows is in flight.
 *
 * Deterministic code only; Date.now() is the workflow clock.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { bookkeeping, taskWait } from '../activity-profiles';
import { SpecError } from '../../common/errors';
import { domainError } from '../domain-error';
import type { PendingTask } from '../../activities/intake/folders';
import {
  addTasksUpdate,
  intakeStatusQuery,
  NO_TOKENS,
  SEARCH_ATTRIBUTES,
  taskWorkflowId,
  type InFlightTask,
  type IntakeInput,
  type IntakeStatus,
  type TaskResult,
} from '../../contract';
import { allowanceFor, remainingBudget } from '../budget/intake-share';
import { agentTask } from '../task/task';
import { mdText, mdUsd } from '../markdown';
import { roundUsd } from '../../common/money';

const acts = proxyActivities<Activities>(bookkeeping);
const waiter = proxyActivities<Activities>(taskWait());

const RECENT_RESULTS = 50;

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** nightshiftIntake's input: the public IntakeInput and the state a run carries across continue-as-new. */
export interface IntakeWorkflowInput extends IntakeInput {
  carried?: CarriedIntakeState;
}

export interface CarriedIntakeState {
  day: string;
  spentUsd: number;
  inFlight: InFlightTask[];
  /** Newest last, at most RECENT_RESULTS. */
  recent: (TaskResult & { file: string })[];
  /** Task IDs that succeeded under this intake (dependencies met even if their file is moved away). */
  succeeded: string[];
  runs: number;
  polls: number;
}

export async function nightshiftIntake(input: IntakeWorkflowInput): Promise<IntakeStatus> {
  const intakeId = workflowInfo().workflowId;
  const folder = input.folder ?? 'tasks';
  const cap = input.dailyBudgetUsd ?? 50;
  const maxConcurrent = input.maxConcurrent ?? 3;
  const pollMs = input.pollIntervalMs ?? 60_000;
  const historyLimit = input.historyEventLimit ?? 4_000;
  const c = input.carried;

  let day = c?.day ?? utcDay(Date.now());
  let spent = c?.spentUsd ?? 0;
  const inFlight = new Map<string, InFlightTask>((c?.inFlight ?? []).map((t) => [t.taskId, t]));
  const recent = [...(c?.recent ?? [])];
  const succeeded = new Set(c?.succeeded ?? []);
  let polls = 0;
  let starting = 0;
  let settling = 0;
  let changed = false;
  let pausedForBudget = false;
  let takenOnce = input.mode === 'once' && (inFlight.size > 0 || recent.length > 0);

  const status: IntakeStatus = {
    intakeId,
    mode: input.mode,
    folder,
    state: 'running',
    day,
    budget: { capUsd: cap, spentUsd: spent, reservedUsd: 0 },
    inFlight: [],
    recent,
    rejected: [],
    runs: (c?.runs ?? 0) + 1,
  };
  const refresh = () => {
    status.day = day;
    status.budget = {
      capUsd: cap,
      spentUsd: roundUsd(spent),
      reservedUsd: cap - spent - remainingBudget(cap, spent, inFlight.values()),
    };
    status.inFlight = [...inFlight.values()];
    status.state = pausedForBudget ? 'paused_budget' : inFlight.size > 0 ? 'running' : 'idle';
    setCurrentDetails(
      `${input.mode} intake of ${mdText(folder)}/pending · ${inFlight.size} running · ${mdUsd(spent)} of ${mdUsd(cap)} today`,
    );
    changed = true;
  };
  setHandler(intakeStatusQuery, () => status);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: 'running' }]);

  // Tasks arrive as files, whichever way they come: the folder is the one queue.
  setHandler(addTasksUpdate, async ({ tasks }) => {
    try {
      const added = await acts.writePendingTasks({ folder, tasks });
      changed = true;
      return { added };
    } catch (err) {
      // The caller sees what is wrong with its tasks, not "activity task failed".
      const { error } = domainError(err);
      if (error instanceof ApplicationFailure)
        throw ApplicationFailure.nonRetryable(error.message, error.type ?? SpecError.name);
      throw err;
    }
  });

  /** Waits for a task to end, books its cost and moves its file. Safe to repeat after continue-as-new. */
  const settle = async (t: InFlightTask): Promise<void> => {
    settling++;
    try {
      const r = await waiter.awaitTaskResult({ workflowId: t.workflowId, runId: t.runId, taskId: t.taskId });
      const ok = r.status === 'succeeded';
      await acts.moveTaskFile({
        folder,
        file: t.file,
        from: 'running',
        to: ok ? 'completed' : 'failed',
        error: ok ? undefined : `${r.status}: ${r.error ?? ''}`,
      });
      inFlight.delete(t.taskId);
      spent += r.costUsd;
      if (ok) succeeded.add(t.taskId);
      recent.push({ ...r, file: t.file });
      if (recent.length > RECENT_RESULTS) recent.splice(0, recent.length - RECENT_RESULTS);
    } finally {
      settling--;
      refresh();
    }
  };

  const start = async (p: PendingTask, allowanceUsd: number): Promise<void> => {
    starting++;
    try {
      await acts.moveTaskFile({ folder, file: p.file, from: 'pending', to: 'running' });
      const workflowId = taskWorkflowId(intakeId, p.task.id);
      const task = { ...p.task, maxCostUsd: allowanceUsd };
      let child;
      try {
        child = await startChild(agentTask, {
          workflowId,
          // Each task's cap is its share of the daily budget (workflows/budget/intake-share.ts); the intake grants no allowances.
          args: [{ batchId: intakeId, date: day, task, allowanceFrom: null }],
          // The task must outlive this run's continue-as-new; settle() waits on it by ID.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `${p.task.id} · ${p.task.title}`,
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.batch, value: intakeId },
            { key: SEARCH_ATTRIBUTES.task, value: p.task.id },
            { key: SEARCH_ATTRIBUTES.status, value: 'running' },
            ...(p.task.repoName || p.task.repo
              ? [{ key: SEARCH_ATTRIBUTES.repo, value: p.task.repoName ?? p.task.repo! }]
              : []),
          ],
        });
      } catch (err) {
        // e.g. a task of the same ID started outside this intake: its file goes to failed/ with why.
        const error = `could not start: ${err instanceof Error ? err.message : String(err)}`;
        await acts.moveTaskFile({ folder, file: p.file, from: 'running', to: 'failed', error });
        recent.push({
          taskId: p.task.id,
          file: p.file,
          status: 'failed',
          error,
          costUsd: 0,
          tokens: { ...NO_TOKENS },
          turns: 0,
        });
        return;
      }
      const t: InFlightTask = {
        taskId: p.task.id,
        file: p.file,
        workflowId,
        runId: child.firstExecutionRunId,
        allowanceUsd,
      };
      inFlight.set(t.taskId, t);
      void settle(t);
    } finally {
      starting--;
      refresh();
    }
  };

  // A file in running/ that this run does not know is in flight was left by a crash or a
  // terminated intake: adopt it if its task still runs, else put it back in pending/.
  const rec = await acts.reconcileRunning({ folder, intakeId, keep: [...inFlight.values()].map((t) => t.file) });
  for (const a of rec.adopted) inFlight.set(a.taskId, { ...a, allowanceUsd: 0 });
  for (const t of inFlight.values()) void settle(t);
  refresh();

  for (;;) {
    const now = Date.now();
    if (utcDay(now) !== day) {
      // Folder mode: the budget resets at midnight UTC.
      day = utcDay(now);
      spent = 0;
    }
    pausedForBudget = false;
    let readyLeft = false;
    if (!takenOnce) {
      const scan = await acts.scanPendingTasks({ folder });
      polls++;
      status.rejected.push(...scan.rejected);
      status.waiting = scan.waiting ?? [];
      const done = new Set([...scan.completedIds, ...succeeded]);
      for (const p of scan.pending) {
        if (inFlight.has(p.task.id) || !p.task.dependsOn.every((d) => done.has(d))) continue;
        readyLeft = true;
        if (inFlight.size >= maxConcurrent) break;
        const allowance = allowanceFor(
          p.task.maxCostUsd,
          remainingBudget(cap, spent, inFlight.values()),
          maxConcurrent - inFlight.size,
        );
        if (allowance === undefined) {
          pausedForBudget = true;
          break;
        }
        await start(p, allowance);
        if (input.mode === 'once') {
          takenOnce = true;
          break;
        }
      }
    }
    refresh();

    const finished = input.mode === 'once' ? takenOnce || !readyLeft : input.mode === 'batch' && !readyLeft;
    if (finished && inFlight.size === 0 && starting === 0 && settling === 0) break;

    const history = workflowInfo();
    const every = input.continueAsNewEveryPolls;
    if (
      history.continueAsNewSuggested ||
      history.historyLength > historyLimit ||
      (every !== undefined && polls >= every)
    ) {
      await condition(() => starting === 0 && allHandlersFinished());
      return continueAsNew<typeof nightshiftIntake>({
        ...input,
        carried: {
          day,
          spentUsd: spent,
          inFlight: [...inFlight.values()],
          recent,
          succeeded: [...succeeded],
          runs: status.runs,
          polls: (c?.polls ?? 0) + polls,
        },
      });
    }
    changed = false;
    // Paused for the budget: wake at midnight UTC at the latest. Otherwise poll, or sooner
    // when a task ends or addTasks queues one.
    const untilMidnight = Date.parse(`${day}T00:00:00Z`) + 86_400_000 - Date.now();
    await condition(() => changed, pausedForBudget ? Math.max(1000, untilMidnight) : pollMs);
  }

  status.state = 'completed';
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: 'completed' }]);
  await condition(allHandlersFinished);
  return status;
}
