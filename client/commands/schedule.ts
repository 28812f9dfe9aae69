/**
 * `nightshift schedule …`: a Temporal Schedule that starts `nightlyBatch` every night,
 * replacing the seeds' cron lines. Overlap policy SKIP (a night still running when the
 * next is due is not doubled), and a catch-up window so a night missed while the server
 * was down still runs when it comes back, within the window.
 */
import * as path from 'node:path';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import { type NightshiftConfig } from '../../common/config';
import { BATCH_WORKFLOW, DEFAULT_SCHEDULE_ID, TASK_QUEUE, type BatchInput } from '../../contract';
import { parseDuration } from '../../taskfile/schema';
import { loadBatchSpec } from '../../taskfile/load';
import { CliError, EXIT } from '../errors';
import { table } from '../format';

export interface ScheduleCreateOptions {
  cron: string;
  tasks: string;
  timezone?: string;
  id?: string;
  /** e.g. "8h". @default '6h' */
  catchupWindow?: string;
  paused?: boolean;
  /** Each night first turns review feedback on its repositories' nightshift PRs into tasks (BatchInput.followUp). */
  followup?: boolean;
}

/** What `schedule list --json` prints per schedule. */
export interface ScheduleInfo {
  scheduleId: string;
  cron: string[];
  timezone?: string;
  paused: boolean;
  note?: string;
  tasksFile?: string;
  nextRuns: string[];
  recentBatches: { batchId: string; scheduledAt: string }[];
}

/** The schedule's runs are `<base>-<scheduled time>`: `nightshift-2026-11-21T02:00:00Z` for the default schedule. */
export function scheduleWorkflowIdBase(scheduleId: string): string {
  return scheduleId === DEFAULT_SCHEDULE_ID ? 'nightshift' : scheduleId;
}

function checkTimezone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new CliError(
      `unknown time zone "${tz}"; use an IANA name such as Europe/Berlin or America/New_York`,
      EXIT.usage,
    );
  }
}

/** Relative to NIGHTSHIFT_ROOT, as the worker reads it. A folder may be empty tonight; a file must validate. */
async function tasksPathFor(config: NightshiftConfig, tasks: string): Promise<string> {
  const rel = path.relative(config.root, path.resolve(tasks));
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw new CliError(
      `${tasks} is outside NIGHTSHIFT_ROOT (${config.root}); workers read task files relative to it`,
      EXIT.usage,
    );
  try {
    await loadBatchSpec(rel, config.root);
  } catch (err) {
    const emptyFolder = err instanceof Error && /holds no \.yaml/.test(err.message);
    if (!emptyFolder) throw err;
  }
  return rel;
}

export async function createSchedule(
  client: Client,
  config: NightshiftConfig,
  o: ScheduleCreateOptions,
): Promise<{ scheduleId: string; workflowIdBase: string }> {
  if (o.timezone) checkTimezone(o.timezone);
  const catchup = parseDuration(o.catchupWindow ?? '6h');
  if (catchup === undefined)
    throw new CliError(`--catchup-window "${o.catchupWindow}" must be a duration such as "6h" or "30m"`, EXIT.usage);
  const tasksFile = await tasksPathFor(config, o.tasks);
  const scheduleId = o.id ?? DEFAULT_SCHEDULE_ID;
  const input: BatchInput = {
    tasksFile,
    ...(o.timezone ? { timezone: o.timezone } : {}),
    ...(o.followup ? { followUp: {} } : {}),
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { cronExpressions: [o.cron], timezone: o.timezone },
      action: {
        type: 'startWorkflow',
        workflowType: BATCH_WORKFLOW,
        taskQueue: TASK_QUEUE,
        workflowId: scheduleWorkflowIdBase(scheduleId),
        args: [input],
        staticSummary: `nightshift schedule ${scheduleId} · ${tasksFile}`,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchup },
      // The server compiles cron strings into calendars; the memo keeps what the user wrote.
      memo: { cron: o.cron },
      state: { paused: o.paused ?? false, note: o.paused ? 'created paused' : undefined },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning)
      throw new CliError(`schedule ${scheduleId} already exists; delete it first or pass --id`, EXIT.usage);
    if (err instanceof Error && /invalid.*(cron|spec)|cron/i.test(err.message))
      throw new CliError(`--cron "${o.cron}": ${err.message}`, EXIT.usage);
    throw err;
  }
  return { scheduleId, workflowIdBase: scheduleWorkflowIdBase(scheduleId) };
}

function toInfo(d: ScheduleSummary | ScheduleDescription): ScheduleInfo {
  const action = d.action as { args?: unknown[] } | undefined;
  const input = (action?.args?.[0] ?? {}) as BatchInput;
  return {
    scheduleId: d.scheduleId,
    cron: typeof d.memo?.cron === 'string' ? [d.memo.cron] : (d.spec?.calendars ?? []).map((c) => JSON.stringify(c)),
    timezone: d.spec?.timezone,
    paused: d.state.paused,
    note: d.state.note,
    tasksFile: input.tasksFile,
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentBatches: d.info.recentActions.map((a) => ({
      batchId: a.action.workflow.workflowId,
      scheduledAt: a.scheduledAt.toISOString(),
    })),
  };
}

/** Only schedules that start nightlyBatch: a namespace may hold other people's schedules. */
export async function listSchedules(client: Client): Promise<ScheduleInfo[]> {
  const out: ScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    if (s.action?.workflowType !== BATCH_WORKFLOW) continue;
    // The list is eventually consistent and summarises the spec; describe gives the input too.
    out.push(await describeSchedule(client, s.scheduleId).catch(() => toInfo(s)));
  }
  return out.sort((a, b) => (a.scheduleId < b.scheduleId ? -1 : 1));
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleInfo> {
  try {
    return toInfo(await handleOf(client, scheduleId).describe());
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new CliError(`no schedule "${scheduleId}"`, EXIT.notFound);
    throw err;
  }
}

function handleOf(client: Client, scheduleId: string) {
  return client.schedule.getHandle(scheduleId);
}

/** pause | unpause | trigger | delete, with a not-found error that names the schedule. */
export async function scheduleAction(
  client: Client,
  action: 'pause' | 'unpause' | 'trigger' | 'delete',
  scheduleId: string,
  note?: string,
): Promise<void> {
  const h = handleOf(client, scheduleId);
  try {
    if (action === 'pause') await h.pause(note ?? 'paused with nightshift schedule pause');
    else if (action === 'unpause') await h.unpause(note ?? 'unpaused with nightshift schedule unpause');
    // A manual trigger follows the schedule's own overlap policy: it does not double a running night.
    else if (action === 'trigger') await h.trigger(ScheduleOverlapPolicy.SKIP);
    else await h.delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new CliError(`no schedule "${scheduleId}"`, EXIT.notFound);
    throw err;
  }
}

export function renderSchedules(list: ScheduleInfo[]): string {
  if (list.length === 0)
    return 'no nightshift schedules; create one with `nightshift schedule create --cron "0 2 * * *" --tasks tasks/pending/`';
  return table(
    ['SCHEDULE', 'CRON', 'TIMEZONE', 'STATE', 'TASKS', 'NEXT RUN', 'LAST BATCH'],
    list.map((s) => [
      s.scheduleId,
      s.cron.join('; '),
      s.timezone ?? 'UTC',
      s.paused ? 'paused' : 'active',
      s.tasksFile ?? '-',
      s.nextRuns[0] ?? '-',
      s.recentBatches[s.recentBatches.length - 1]?.batchId ?? '-',
    ]),
  );
}
