/**
 * The worker's log: one line per task event (started, a turn with its tokens and cost, each
 * tool call, a question asked or answered, checks, delivery, the end), human-readable or
 * JSON lines, and the SDK's own messages cut to one line each at the configured level.
 *
 * Events come from two places, both outside workflow code: the SDK's workflow lifecycle
 * messages (`Workflow started`/`completed`/`failed` of an `agentTask` or `nightlyBatch`,
 * which the SDK sends only outside replay), and an activity interceptor that reads the
 * results of the activities a task's progress shows in. Agent text (questions, tool
 * summaries, errors) is hostile: control characters never reach the terminal.
 */
import type { Context } from '@temporalio/activity';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import {
  Runtime,
  type ActivityInboundCallsInterceptor,
  type ActivityInterceptorsFactory,
  type WorkerInterceptors,
} from '@temporalio/worker';
import type { NightshiftConfig } from '../common/config';
import { BATCH_WORKFLOW, TASK_WORKFLOW } from '../contract';

export type LogFormat = NightshiftConfig['log']['format'];

/** Marks a log call as a task event; the SDK passes meta through to the logger untouched. */
const EVENT = 'nightshiftEvent';

export interface TaskEvent {
  event: string;
  /** The task's workflow ID (`<batch>/<task>`), or the batch's. */
  workflowId: string;
  /** The line a person reads, without the time and the workflow ID. */
  text: string;
  [field: string]: unknown;
}

const SEVERITY: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/** One line of agent or SDK text: no control characters (a terminal escape in a question stays text), bounded. */
export function oneLine(s: unknown, max = 200): string {
  const flat = String(s ?? '')
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\s]+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

const errorMessage = (e: unknown) =>
  oneLine(
    e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e)
      ? (e as { message: unknown }).message
      : e,
    300,
  );

/** The SDK meta worth a line: where it happened, and an error's message (never its dump). */
function briefMeta(meta: LogMetadata | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!meta) return out;
  for (const k of ['workflowType', 'workflowId', 'activityType', 'taskQueue', 'state'])
    if (typeof meta[k] === 'string') out[k] = oneLine(meta[k], 120);
  if (meta.error !== undefined) out.error = errorMessage(meta.error);
  return out;
}

/** SDK lifecycle messages of nightshift's own workflows, as task events. */
function lifecycleEvent(message: string, meta: LogMetadata | undefined): TaskEvent | undefined {
  const type = meta?.workflowType;
  const workflowId = typeof meta?.workflowId === 'string' ? meta.workflowId : undefined;
  if (!workflowId || (type !== TASK_WORKFLOW && type !== BATCH_WORKFLOW)) return undefined;
  const who = type === TASK_WORKFLOW ? 'task' : 'batch';
  switch (message) {
    case 'Workflow started':
      return { event: `${who}.started`, workflowId, text: 'started' };
    case 'Workflow completed':
      return {
        event: `${who}.${who === 'task' ? 'succeeded' : 'completed'}`,
        workflowId,
        text: who === 'task' ? 'succeeded' : 'completed',
      };
    case 'Workflow completed as cancelled':
      return { event: `${who}.cancelled`, workflowId, text: 'cancelled' };
    case 'Workflow failed': {
      const error = errorMessage(meta?.error);
      return { event: `${who}.failed`, workflowId, text: `failed: ${error}`, error };
    }
    default:
      return undefined;
  }
}

/** Where task events go besides the worker's own log: the nights' log files (worker/night-log.ts). */
export interface NightLogSink {
  append(e: TaskEvent, time: string): void;
  /** A night's settings passed through this worker: its log_file, if it has one. */
  learn(batchId: string, logFile: string | undefined): void;
}

let nightLogs: NightLogSink | undefined;

/** Sends this process's task events to the nights' log files too (a worker process; once). */
export function setNightLogs(sink: NightLogSink | undefined): void {
  nightLogs = sink;
}

export class NightshiftLogger implements Logger {
  constructor(
    readonly format: LogFormat,
    /** SDK messages below this are dropped; task events always show. */
    readonly level: LogLevel,
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const event = (meta?.[EVENT] as TaskEvent | undefined) ?? lifecycleEvent(message, meta);
    const time = new Date().toISOString();
    if (event) {
      if (event.event !== 'worker') nightLogs?.append(event, time);
      if (this.format === 'json') this.write(JSON.stringify({ time, ...event }));
      // The worker's own lines (connected, waiting, draining) read as they always have.
      else
        this.write(
          event.event === 'worker' ? `nightshift worker: ${event.text}` : `${time} ${event.workflowId} ${event.text}`,
        );
      return;
    }
    if (SEVERITY[level] < SEVERITY[this.level]) return;
    const brief = briefMeta(meta);
    if (this.format === 'json') {
      this.write(JSON.stringify({ time, level, message: oneLine(message, 500), ...brief }));
      return;
    }
    const where = [brief.workflowId, brief.activityType, brief.state].filter(Boolean).join(' ');
    this.write(
      `${time} ${level} ${oneLine(message, 500)}${where ? ` (${where})` : ''}${brief.error ? `: ${brief.error}` : ''}`,
    );
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/**
 * Installs the logger for this process's Temporal runtime. Once per process and before any
 * worker or native connection exists; a later call (a test's second worker) changes nothing.
 */
export function installLogger(o: NightshiftConfig['log']): void {
  if (Runtime.instantiator) return;
  installed = new NightshiftLogger(o.format, o.level);
  Runtime.install({ logger: installed });
}

let installed: NightshiftLogger | undefined;

/**
 * Sends an event to the installed logger. Without one (a test's in-process worker) task
 * events are dropped rather than dumped by the SDK's default logger; the worker's own
 * lines still go to stderr, where scripts watching a worker process read them.
 */
export function logEvent(e: TaskEvent): void {
  if (installed) installed.info(`${e.workflowId} ${e.text}`, { [EVENT]: e });
  else if (e.event === 'worker') process.stderr.write(`nightshift worker: ${e.text}\n`);
}

/** A line about the worker itself (connected, waiting for the server, draining). */
export function logWorker(text: string): void {
  logEvent({ event: 'worker', workflowId: '', text: oneLine(text, 500) });
}

/** What the activities a task's progress shows in tell, from their input and result. */
export function activityEvent(activityType: string, workflowId: string, input: unknown, result: unknown): TaskEvent[] {
  const i = (input ?? {}) as Record<string, unknown>;
  const r = (result ?? {}) as Record<string, unknown>;
  switch (activityType) {
    case 'callModel': {
      const usage = (r.usage ?? {}) as Record<string, number>;
      const cost = Number(r.costUsd ?? 0);
      const calls = (Array.isArray(r.toolCalls) ? r.toolCalls : []) as { name: string; summary: string }[];
      const turn = Number(r.turn ?? i.turn);
      const tokens = {
        input: usage.input ?? 0,
        output: usage.output ?? 0,
        cacheRead: usage.cacheRead ?? 0,
        cacheWrite: usage.cacheWrite ?? 0,
      };
      const turnEvent: TaskEvent = {
        event: 'task.turn',
        workflowId,
        turn,
        tokens,
        costUsd: cost,
        model: oneLine(r.model, 80),
        text: `turn ${turn}: ${tokens.input + tokens.cacheRead + tokens.cacheWrite} in / ${tokens.output} out tokens, $${cost.toFixed(4)}${calls.length ? `; ${calls.length} tool call${calls.length === 1 ? '' : 's'}` : ''}`,
      };
      return [
        turnEvent,
        ...calls.map((c) => ({
          event: 'task.tool',
          workflowId,
          turn,
          tool: oneLine(c.name, 60),
          summary: oneLine(c.summary),
          text: `turn ${turn}: ${oneLine(c.name, 60)} ${oneLine(c.summary)}`.trimEnd(),
        })),
      ];
    }
    case 'recordQuestion':
      return [
        {
          event: 'task.question',
          workflowId,
          turn: i.turn,
          question: oneLine(r.question, 300),
          text: `asks: ${oneLine(r.question, 300)}`,
        },
      ];
    case 'recordAnswer':
      return [{ event: 'task.answered', workflowId, turn: i.turn, text: `got an answer: ${oneLine(i.summary, 120)}` }];
    case 'runChecks': {
      const results = (Array.isArray(r.results) ? r.results : []) as {
        command: string;
        exitCode: number;
        passed: boolean;
      }[];
      const failing = results.filter((c) => !c.passed).map((c) => `${oneLine(c.command, 80)} (exit ${c.exitCode})`);
      return [
        {
          event: 'task.checks',
          workflowId,
          passed: r.passed === true,
          text: r.passed ? `checks passed (${results.length})` : `checks FAILED: ${failing.join(', ')}`,
        },
      ];
    }
    case 'pushWork':
      return [
        {
          event: 'task.delivered',
          workflowId,
          branch: oneLine(i.branch, 200),
          pushed: r.pushed === true,
          text: r.pushed
            ? `pushed ${oneLine(i.branch, 200)}`
            : `kept ${oneLine(i.branch, 200)} locally, not pushed: ${oneLine(r.reason)}`,
        },
      ];
    case 'openPullRequest':
      return typeof r.url === 'string'
        ? [
            {
              event: 'task.delivered',
              workflowId,
              prUrl: oneLine(r.url, 300),
              text: `${r.draft ? 'draft ' : ''}pull request ${oneLine(r.url, 300)}`,
            },
          ]
        : [{ event: 'task.delivered', workflowId, text: `no pull request: ${oneLine(r.skipped)}` }];
    case 'runCommandTask':
      return [
        {
          event: 'task.command',
          workflowId,
          exitCode: r.exitCode,
          text: r.timedOut
            ? 'command timed out'
            : `command exited ${String(r.exitCode)} after ${(Number(r.durationMs ?? 0) / 1000).toFixed(1)} s`,
        },
      ];
    default:
      return [];
  }
}

type SpecResult = { settings?: { logFile?: unknown }; logFile?: unknown };

/** The activities that load a night's spec (activities/night/spec.ts), and where their result holds its log_file. */
const NIGHT_LOG_FILE_OF: Record<string, (r: SpecResult) => unknown> = {
  loadBatchSpec: (r) => r.logFile,
  storeBatchSpec: (r) => r.settings?.logFile,
  readBatchSpecHeader: (r) => r.settings?.logFile,
};

/** The night's log_file setting, when `activityType` loaded its spec; undefined otherwise. */
function nightSettings(activityType: string, result: unknown): { logFile?: string } | undefined {
  const of = NIGHT_LOG_FILE_OF[activityType];
  if (!of) return undefined;
  const raw = of((result ?? {}) as SpecResult);
  return { logFile: typeof raw === 'string' ? raw : undefined };
}

class TaskEventsInbound implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(
    input: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[0],
    next: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[1],
  ): Promise<unknown> {
    const result = await next(input);
    const { activityType, workflowExecution } = this.ctx.info;
    if (!workflowExecution) return result;
    try {
      for (const e of activityEvent(activityType, workflowExecution.workflowId, input.args[0], result)) logEvent(e);
      const settings = nightSettings(activityType, result);
      if (settings) nightLogs?.learn(workflowExecution.workflowId, settings.logFile);
    } catch {
      // A log line never fails the activity it describes.
    }
    return result;
  }
}

const taskEvents: ActivityInterceptorsFactory = (ctx) => ({ inbound: new TaskEventsInbound(ctx) });

/** The worker's interceptors with the task-event logger added to the activities' (a caller's own stay). */
export function withTaskEvents(interceptors: WorkerInterceptors | undefined): WorkerInterceptors {
  return { ...interceptors, activity: [...(interceptors?.activity ?? []), taskEvents] };
}
