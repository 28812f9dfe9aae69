/**
 * Folder mode: `nightshift start --mode once|batch|continuous [FOLDER]` starts the
 * intake workflow over FOLDER/pending/ (default `tasks/`); `--mode status` and
 * `nightshift status --intake` show it with the folder's contents.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { folderCounts, FOLDERS, type Folder } from '../../activities/intake/folders';
import { type NightshiftConfig } from '../../common/config';
import {
  DEFAULT_INTAKE_ID,
  INTAKE_WORKFLOW,
  intakeStatusQuery,
  TASK_QUEUE,
  type IntakeInput,
  type IntakeMode,
  type IntakeStatus,
} from '../../contract';
import { parseDuration } from '../../taskfile/schema';
import { CliError, EXIT } from '../errors';
import { taskTable, usd } from '../format';
import { nightshiftCommand, temporalCommand } from '../hints';
import { queryWithWorker } from '../workers';

export const MODES = ['once', 'batch', 'continuous', 'status'] as const;

export interface IntakeOptions {
  budget?: string;
  maxConcurrent?: string;
  poll?: string;
  workflowId?: string;
}

/** `tasks`, `tasks/` or `tasks/pending/` all name the folder that holds pending/. */
export function intakeFolder(config: NightshiftConfig, given: string | undefined): string {
  const abs = path.resolve(given ?? path.join(config.root, 'tasks'));
  const folder = path.basename(abs) === 'pending' ? path.dirname(abs) : abs;
  const rel = path.relative(config.root, folder);
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw new CliError(
      `${given} is outside NIGHTSHIFT_ROOT (${config.root}); workers read task files relative to it`,
      EXIT.usage,
    );
  return rel || '.';
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${name} must be a number above 0, got "${v}"`, EXIT.usage);
  return n;
}

export async function startIntake(
  client: Client,
  config: NightshiftConfig,
  mode: IntakeMode,
  folderArg: string | undefined,
  o: IntakeOptions,
): Promise<{ intakeId: string; folder: string }> {
  const folder = intakeFolder(config, folderArg);
  // The layout is created on first use, so `mv task.yaml tasks/pending/` just works.
  for (const f of FOLDERS) await fs.mkdir(path.join(config.root, folder, f), { recursive: true });
  const poll = o.poll !== undefined ? parseDuration(o.poll) : undefined;
  if (o.poll !== undefined && poll === undefined)
    throw new CliError(`--poll "${o.poll}" must be a duration such as "30s" or "5m"`, EXIT.usage);
  const input: IntakeInput = {
    mode,
    folder,
    dailyBudgetUsd: positive('--budget', o.budget),
    maxConcurrent: positive('--max-concurrent', o.maxConcurrent),
    pollIntervalMs: poll,
  };
  const intakeId = o.workflowId ?? DEFAULT_INTAKE_ID;
  try {
    await client.workflow.start(INTAKE_WORKFLOW, {
      taskQueue: TASK_QUEUE,
      workflowId: intakeId,
      args: [input],
      staticSummary: `nightshift ${mode} · ${folder}/pending`,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(
        `an intake (${intakeId}) is already running; one intake owns a tasks folder. See it with \`${nightshiftCommand()} status --intake\`, stop it with \`${temporalCommand(config)} workflow cancel --workflow-id ${intakeId}\`, or pass --workflow-id for another folder`,
        EXIT.usage,
      );
    }
    throw err;
  }
  return { intakeId, folder };
}

/** The intake's live status, or its final one; undefined when there is none. */
export async function readIntake(client: Client, intakeId = DEFAULT_INTAKE_ID): Promise<IntakeStatus | undefined> {
  const handle = client.workflow.getHandle(intakeId);
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return await queryWithWorker(client, () => handle.query(intakeStatusQuery));
    if (d.status.name === 'COMPLETED') return (await handle.result()) as IntakeStatus;
    return undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export async function waitForIntake(client: Client, intakeId: string): Promise<IntakeStatus> {
  return (await client.workflow.getHandle(intakeId).result()) as IntakeStatus;
}

export interface IntakeReport {
  folder: string;
  files: Record<Folder, string[]>;
  intake?: IntakeStatus;
}

export async function intakeReport(
  client: Client,
  config: NightshiftConfig,
  folderArg: string | undefined,
  intakeId?: string,
): Promise<IntakeReport> {
  const intake = await readIntake(client, intakeId);
  const folder = intake?.folder ?? intakeFolder(config, folderArg);
  return { folder, files: await folderCounts(config.root, folder), intake };
}

export function renderIntake(r: IntakeReport): string {
  const counts = FOLDERS.map((f) => `${f} ${r.files[f].length}`).join(' · ');
  const lines = [`${r.folder}/: ${counts}`];
  for (const f of ['pending', 'running'] as const)
    if (r.files[f].length) lines.push(`  ${f}: ${r.files[f].join(', ')}`);
  const i = r.intake;
  if (!i) lines.push(`no intake running; start one with \`${nightshiftCommand()} start --mode continuous\``);
  else {
    lines.push(
      `intake ${i.intakeId} · ${i.mode} · ${i.state} · today (${i.day} UTC) ${usd(i.budget.spentUsd)} of ${usd(i.budget.capUsd)}${i.budget.reservedUsd ? `, ${usd(i.budget.reservedUsd)} set aside for running tasks` : ''}`,
    );
    if (i.inFlight.length) lines.push(`running: ${i.inFlight.map((t) => `${t.taskId} (${t.file})`).join(', ')}`);
    for (const w of i.waiting ?? [])
      lines.push(`waiting: ${w.taskId} (${w.file}) for ${w.unseen.join(', ')}, not in any folder yet`);
    if (i.recent.length) lines.push('', taskTable(i.recent.slice(-20)));
    if (i.rejected.length)
      lines.push('', ...i.rejected.map((x) => `rejected ${x.file}: ${x.error.split('\n').slice(0, 3).join(' ')}`));
  }
  return lines.join('\n');
}
