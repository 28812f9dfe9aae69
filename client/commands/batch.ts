/** `start`, `status` and `cancel`: a night's batch through the Temporal client. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  type Client,
} from '@temporalio/client';
import { webUiUrl, type NightshiftConfig } from '../../common/config';
import {
  BATCH_WORKFLOW,
  batchIdFor,
  cancelBatchUpdate,
  cancelTaskUpdate,
  FINAL_STATES,
  SEARCH_ATTRIBUTES,
  TASK_QUEUE,
  type BatchStatus,
  type TaskResult,
} from '../../contract';
import type { SpecIssue } from '../../common/errors';
import { latestBatchId, readBatch, readBatchLive } from '../batches';
import { CliError, EXIT, failureMessage } from '../errors';
import { duration, localDate, padToWidth, redrawer, taskTable, usd } from '../format';
import { runnable } from '../hints';
import { load } from '../lazy';

export interface StartOptions {
  date?: string;
  workflowId?: string;
  /** Start again even if this night's batch already completed. */
  rerun?: boolean;
  /** The queue the batch's workflows run on. @default TASK_QUEUE */
  taskQueue?: string;
  /** Told each model warning (end of life near or past, a model the table does not know); they do not stop the start. */
  onWarning?: (line: string) => void;
}

/** Validates locally first, so a bad file starts nothing; then starts the batch. */
export async function startBatch(
  client: Client,
  config: NightshiftConfig,
  file: string,
  o: StartOptions,
): Promise<{ batchId: string; runId: string; warnings: SpecIssue[] }> {
  // A path is the shell's (relative to the current directory); failing that, relative to
  // NIGHTSHIFT_ROOT, the way workers and `temporal workflow start` read it.
  const fromCwd = path.resolve(file);
  const abs = existsSync(fromCwd) || path.isAbsolute(file) ? fromCwd : path.resolve(config.root, file);
  const rel = path.relative(config.root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new CliError(
      `${file} is outside NIGHTSHIFT_ROOT (${config.root}); workers read task files relative to it`,
      EXIT.usage,
    );
  }
  // Loaded here: `status` and `cancel` share this file and need none of what starting needs.
  const { spec, warnings } = await load.validate().validateFile(config, rel);
  const date = o.date ?? spec.date ?? localDate();
  for (const w of load.models().modelWarnings(spec, date)) o.onWarning?.(`warning: ${w}`);
  // A model name the API does not offer would fail every request of the night: refused here, as validate does.
  for (const w of await load.models().checkModelsOffered(config, spec)) o.onWarning?.(`warning: ${w}`);
  const batchId = o.workflowId ?? batchIdFor(date);
  // Workers read the night from the store, not from their own NIGHTSHIFT_ROOT: any worker on any host runs what was validated here.
  const store = await load.store().openStateStore(config);
  const storedSpec = await load
    .specs()
    .storeValidatedSpec(store, batchId, spec, config.root)
    .finally(() => store.close());
  try {
    const handle = await client.workflow.start(BATCH_WORKFLOW, {
      taskQueue: o.taskQueue ?? TASK_QUEUE,
      workflowId: batchId,
      args: [{ tasksFile: rel, date, storedSpec }],
      staticSummary: `nightshift ${date} · ${spec.tasks.length} tasks from ${rel}`,
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.batch, value: batchId }],
      workflowIdReusePolicy: o.rerun
        ? WorkflowIdReusePolicy.ALLOW_DUPLICATE
        : WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    });
    return { batchId, runId: handle.firstExecutionRunId, warnings };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(
        `batch ${batchId} already exists (running or completed); pass --rerun to run it again or --workflow-id to choose another ID`,
        EXIT.usage,
      );
    }
    throw err;
  }
}

export function renderStatus(s: BatchStatus, now = Date.now()): string {
  const spent = s.budget ? ` · ${usd(s.budget.spentUsd)} of ${usd(s.budget.capUsd)}` : '';
  const head = `${s.batchId} · ${s.state}${s.source ? ` · ${s.source}` : ''}${spent}`;
  if (s.error) return `${head}\nerror: ${s.error}`;
  const waits = (s.waiting ?? []).map((w) => `\nwaiting: ${w}`).join('');
  return [`${head}${waits}\n\n${taskTable(s.tasks, now)}`, ...liveLines(s, now)].join('\n');
}

/** What running tasks are doing and the questions waiting for a person, under the table. */
function liveLines(s: BatchStatus, now: number): string[] {
  const doing = s.tasks
    .filter((t) => t.activity && !FINAL_STATES.includes(t.status))
    .map((t) => `  ${t.taskId}: ${t.activity!.replace(/\s+/g, ' ').slice(0, 100)}`);
  const seen = new Set<string>();
  const questions = [...(s.questions ?? []), ...s.tasks.flatMap((t) => t.questions ?? [])].filter(
    (q) => !seen.has(q.questionId) && seen.add(q.questionId),
  );
  const asked = questions.map(
    (q) =>
      `  ${q.taskId} (asked ${duration(now - q.askedAt)} ago): ${q.question.replace(/\s+/g, ' ').slice(0, 120)}\n    answer: ${runnable(q.answerCommand)}`,
  );
  return [
    ...(doing.length ? ['', 'now:', ...doing] : []),
    ...(asked.length ? ['', 'waiting for an answer:', ...asked] : []),
  ];
}

/**
 * Polls until the batch closes, printing each task state change. Returns once the
 * workflow has ended (its report written), not when its status first says completed.
 */
export async function followBatch(
  client: Client,
  batchId: string,
  print: (s: string) => void,
  intervalMs = 1000,
): Promise<BatchStatus> {
  const seen = new Map<string, string>();
  let waitsSaid = '';
  for (;;) {
    const s = await readBatch(client, batchId);
    const waits = (s.waiting ?? []).join('\n');
    if (waits !== waitsSaid) for (const w of s.waiting ?? []) print(`  waiting: ${w}`);
    waitsSaid = waits;
    for (const t of s.tasks) {
      if (seen.get(t.taskId) !== t.status) {
        if (seen.size > 0 || t.status !== 'pending')
          print(`  ${padToWidth(t.taskId, 20)} ${t.status}${t.error ? ` (${t.error.slice(0, 100)})` : ''}`);
        seen.set(t.taskId, t.status);
      }
    }
    if (s.state === 'completed' || s.state === 'failed') {
      // The status says completed before the batch writes its report and returns.
      await client.workflow
        .getHandle(batchId)
        .result()
        .catch(() => undefined);
      // The result holds the report; the last status the live budget.
      return { ...s, ...(await readBatch(client, batchId)) };
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** How long `status --watch` waits out a missing worker or server before it gives up (exit 4). */
const WATCH_OUTAGE_MS = 60_000;

/** A failed refresh the next one may not repeat: no worker answering, or no server, just now. */
function isPassingOutage(err: unknown): boolean {
  if (err instanceof CliError) return err.exitCode === EXIT.unavailable;
  const GRPC_DEADLINE_EXCEEDED = 4;
  const GRPC_UNAVAILABLE = 14;
  return isGrpcServiceError(err) && (err.code === GRPC_UNAVAILABLE || err.code === GRPC_DEADLINE_EXCEEDED);
}

export async function statusCommand(
  client: Client,
  batch: string | undefined,
  o: { json?: boolean; watch?: boolean },
  print: (s: string) => void,
): Promise<BatchStatus> {
  const batchId = batch ?? (await latestBatchId(client));
  // On a terminal each refresh replaces the last; in a pipe each is printed after the last.
  const show = o.watch && !o.json && process.stdout.isTTY ? redrawer(process.stdout) : print;
  let outageSince: number | undefined;
  for (;;) {
    let s: BatchStatus;
    try {
      s = await readBatchLive(client, batchId);
    } catch (err) {
      // A watch outlives moments with no worker polling (one starting, one being replaced)
      // or a server restarting; a single status call still fails at once, as scripts expect.
      if (!o.watch || !isPassingOutage(err)) throw err;
      if (outageSince === undefined) process.stderr.write(`${failureMessage(err)}\n(--watch keeps trying)\n`);
      outageSince ??= Date.now();
      if (Date.now() - outageSince > WATCH_OUTAGE_MS) throw err;
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    outageSince = undefined;
    if (o.json) print(JSON.stringify(s, null, 2));
    else show(renderStatus(s));
    if (!o.watch || s.state === 'completed' || s.state === 'failed') return s;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Cancels one task of a running batch, or with no task the whole night (update `cancelBatch`). */
export async function cancelCommand(
  client: Client,
  batchId: string,
  taskId: string | undefined,
  reason?: string,
): Promise<TaskResult[]> {
  try {
    const handle = client.workflow.getHandle(batchId);
    if (taskId === undefined) return await handle.executeUpdate(cancelBatchUpdate, { args: [{ reason }] });
    return [await handle.executeUpdate(cancelTaskUpdate, { args: [{ taskId, reason }] })];
  } catch (err) {
    throw new CliError(failureMessage(err), EXIT.notFound);
  }
}

export function webUiLink(config: NightshiftConfig, batchId: string): string {
  return `${webUiUrl(config)}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(batchId)}`;
}
