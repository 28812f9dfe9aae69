/**
 * Folder mode's lifecycle: task files wait in `pending/`, move to `running/` while
 * their task runs, and end in `completed/` or `failed/`. The intake workflow drives these
 * moves; each one is idempotent (a retried move that already happened is a success), and
 * `reconcileRunning` puts back any file left in `running/` whose task is not running.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { stringify } from 'yaml';
import type { NightshiftConfig } from '../../common/config';
import { SpecError } from '../../common/errors';
import { loadBatchSpec, parseBatchSpec } from '../../taskfile/load';
import type { TaskSpec } from '../../taskfile/types';
import { failedTaskResult, NO_TOKENS, type TaskResult } from '../../contract';

export const FOLDERS = ['pending', 'running', 'completed', 'failed'] as const;
export type Folder = (typeof FOLDERS)[number];

export interface PendingTask {
  /** File name inside pending/. */
  file: string;
  task: TaskSpec;
}

export interface ScanResult {
  /** Valid single-task files, best priority first, then by file name. */
  pending: PendingTask[];
  /** Files moved to failed/ because they do not validate (the reason is next to them in `<file>.error.txt`). */
  rejected: { file: string; error: string }[];
  /** IDs of tasks whose files are in completed/: dependencies that are met. */
  completedIds: string[];
  /** Pending tasks that wait for tasks no folder holds yet (folder mode: files arrive over time). */
  waiting?: { file: string; taskId: string; unseen: string[] }[];
}

const TASK_FILE = /\.ya?ml$/i;

async function listYaml(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).filter((f) => TASK_FILE.test(f) && !f.startsWith('.')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** Moves `file` between folders. Done already (only the target exists) counts as success. */
export async function moveFile(base: string, file: string, from: Folder, to: Folder): Promise<'moved' | 'already'> {
  if (path.basename(file) !== file) throw new Error(`not a plain file name: ${file}`);
  const src = path.join(base, from, file);
  const dst = path.join(base, to, file);
  await fs.mkdir(path.dirname(dst), { recursive: true });
  try {
    // rename replaces an older file of the same name (a task file queued again on a later night).
    await fs.rename(src, dst);
    return 'moved';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await exists(dst))) return 'already';
    throw err;
  }
}

/** The `id:` of a task file, read leniently (for files that are done and only matter as dependencies). */
async function idOf(file: string): Promise<string | undefined> {
  const m = /^id:\s*["']?([A-Za-z0-9][A-Za-z0-9._-]*)/m.exec(await fs.readFile(file, 'utf8').catch(() => ''));
  return m?.[1];
}

/** Where a scheduled night keeps the files it took: running/<night>/, which the intake's scans do not read. */
function claimDir(base: string, night: string): string {
  return path.join(base, 'running', night.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/**
 * A scheduled night over `<folder>/pending` takes every file there into running/<night>/
 * and returns that directory (relative to root) and the IDs in completed/. Repeating it
 * (a retried activity) takes what has arrived since and returns the same directory.
 */
export async function claimPendingFiles(
  root: string,
  pendingDir: string,
  night: string,
): Promise<{ dir: string; files: string[]; completedIds: string[] }> {
  const base = path.dirname(path.resolve(root, pendingDir));
  const dir = claimDir(base, night);
  await fs.mkdir(dir, { recursive: true });
  for (const file of await listYaml(path.join(base, 'pending'))) {
    await fs
      .rename(path.join(base, 'pending', file), path.join(dir, file))
      .catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  }
  const completedIds: string[] = [];
  for (const file of await listYaml(path.join(base, 'completed'))) {
    const id = await idOf(path.join(base, 'completed', file));
    if (id) completedIds.push(id);
  }
  return { dir: path.relative(root, dir), files: await listYaml(dir), completedIds };
}

export interface ClaimedOutcome {
  /** File name in the night's claim directory. */
  file: string;
  /** The task's final status; none when it never ran. */
  status?: string;
  error?: string;
}

/**
 * Ends a scheduled night's claim: a task that succeeded goes to completed/, one that ran
 * and did not to failed/ (the reason beside it), one that never ran (skipped, or the
 * night's file did not validate) back to pending/. Idempotent.
 */
export async function settleClaimedFiles(
  root: string,
  pendingDir: string,
  night: string,
  outcomes: ClaimedOutcome[],
): Promise<void> {
  const base = path.dirname(path.resolve(root, pendingDir));
  const dir = claimDir(base, night);
  const byFile = new Map(outcomes.map((o) => [o.file, o]));
  for (const file of await listYaml(dir)) {
    const o = byFile.get(file);
    const to: Folder =
      o?.status === 'succeeded'
        ? 'completed'
        : o?.status === undefined || o.status === 'skipped'
          ? 'pending'
          : 'failed';
    await fs.mkdir(path.join(base, to), { recursive: true });
    await fs.rename(path.join(dir, file), path.join(base, to, file));
    if (to === 'failed')
      await fs.writeFile(
        path.join(base, 'failed', `${file}.error.txt`),
        `${o!.status}${o!.error ? `: ${o!.error}` : ''}\n`,
      );
  }
  await fs.rmdir(dir).catch(() => undefined);
}

export function createFolderActivities(config: Pick<NightshiftConfig, 'root'>) {
  const baseOf = (folder: string) => path.resolve(config.root, folder);

  return {
    /**
     * Reads pending/. A file that does not validate, or holds more than one task, is moved
     * to failed/ with its problems beside it, so it neither blocks nor repeats every poll.
     * Write task files elsewhere and `mv` them in, so a half-written file is never read.
     */
    async scanPendingTasks(input: { folder: string }): Promise<ScanResult> {
      const base = baseOf(input.folder);
      const out: ScanResult = { pending: [], rejected: [], completedIds: [] };
      // A task may depend on a task in another file, in any of the four folders.
      const known: string[] = [];
      for (const f of FOLDERS)
        for (const file of await listYaml(path.join(base, f))) known.push((await idOf(path.join(base, f, file))) ?? '');
      // Files arrive one at a time: a dependency not seen yet is waited for, not rejected.
      const load = (rel: string) =>
        loadBatchSpec(rel, config.root, { knownTaskIds: known.filter(Boolean), unseenTasksWait: true });
      // trigger_next is depends_on seen from the other end, across files too: a task waits
      // for the queued or running tasks that trigger it.
      const triggeredBy = new Map<string, string[]>();
      for (const file of await listYaml(path.join(base, 'running'))) {
        const spec = await load(path.relative(config.root, path.join(base, 'running', file))).catch(() => undefined);
        for (const t of spec?.tasks ?? [])
          for (const next of t.triggerNext) triggeredBy.set(next, [...(triggeredBy.get(next) ?? []), t.id]);
      }
      for (const file of await listYaml(path.join(base, 'pending'))) {
        const rel = path.relative(config.root, path.join(base, 'pending', file));
        let error: string | undefined;
        try {
          const spec = await load(rel);
          if (spec.tasks.length === 1) out.pending.push({ file, task: spec.tasks[0] });
          else
            error = `${rel}: holds ${spec.tasks.length} tasks; a file in pending/ is one task (folder mode's layout). Run a many-task file with \`nightshift start FILE\`.`;
        } catch (err) {
          if (!(err instanceof SpecError)) throw err;
          error = err.message;
        }
        if (error !== undefined) {
          if ((await moveFile(base, file, 'pending', 'failed')) === 'moved')
            await fs.writeFile(path.join(base, 'failed', `${file}.error.txt`), error + '\n');
          out.rejected.push({ file, error });
        }
      }
      for (const p of out.pending)
        for (const next of p.task.triggerNext) triggeredBy.set(next, [...(triggeredBy.get(next) ?? []), p.task.id]);
      const seen = new Set(known.filter(Boolean));
      out.waiting = [];
      for (const p of out.pending) {
        const triggers = (triggeredBy.get(p.task.id) ?? []).filter(
          (id) => id !== p.task.id && !p.task.dependsOn.includes(id),
        );
        if (triggers.length > 0) p.task = { ...p.task, dependsOn: [...p.task.dependsOn, ...triggers] };
        const unseen = p.task.dependsOn.filter((d) => !seen.has(d));
        if (unseen.length > 0) out.waiting.push({ file: p.file, taskId: p.task.id, unseen });
      }
      out.pending.sort((a, b) => a.task.priority - b.task.priority || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
      for (const file of await listYaml(path.join(base, 'completed'))) {
        const id = await idOf(path.join(base, 'completed', file));
        if (id) out.completedIds.push(id);
      }
      return out;
    },

    /** The end of a scheduled folder night: its files to completed/, failed/ or back to pending/. */
    async settleClaimedFiles(input: { pendingDir: string; night: string; outcomes: ClaimedOutcome[] }): Promise<void> {
      await settleClaimedFiles(config.root, input.pendingDir, input.night, input.outcomes);
    },

    /** pending/ -> running/ and running/ -> completed/ or failed/; idempotent. */
    async moveTaskFile(input: {
      folder: string;
      file: string;
      from: Folder;
      to: Folder;
      error?: string;
    }): Promise<'moved' | 'already'> {
      const base = baseOf(input.folder);
      const r = await moveFile(base, input.file, input.from, input.to);
      const note = path.join(base, input.to, `${input.file}.error.txt`);
      if (input.to === 'failed' && input.error) await fs.writeFile(note, input.error + '\n');
      else await fs.rm(path.join(base, input.to, `${input.file}.error.txt`), { force: true });
      return r;
    },

    /**
     * A file in running/ whose task is not in `keep` is either a task still running under
     * this intake's ID (adopted: returned so the intake waits for it) or left behind by a
     * crash or a terminated intake (moved back to pending/ to run again).
     */
    async reconcileRunning(input: { folder: string; intakeId: string; keep: string[] }): Promise<{
      adopted: { file: string; taskId: string; workflowId: string; runId: string }[];
      requeued: string[];
    }> {
      const base = baseOf(input.folder);
      const client = Context.current().client;
      const adopted: { file: string; taskId: string; workflowId: string; runId: string }[] = [];
      const requeued: string[] = [];
      for (const file of await listYaml(path.join(base, 'running'))) {
        if (input.keep.includes(file)) continue;
        const taskId = await idOf(path.join(base, 'running', file));
        const workflowId = taskId ? `${input.intakeId}/${taskId}` : undefined;
        const d = workflowId
          ? await client.workflow
              .getHandle(workflowId)
              .describe()
              .catch((err) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err)))
          : undefined;
        // runId '' waits on the latest run of that ID, which is this task's while it runs.
        if (d && d.status.name === 'RUNNING' && taskId && workflowId)
          adopted.push({ file, taskId, workflowId, runId: '' });
        else {
          await moveFile(base, file, 'running', 'pending');
          requeued.push(file);
        }
      }
      return { adopted, requeued };
    },

    /**
     * Waits for a task workflow to close and returns its result. The intake waits through
     * this activity rather than a child handle, so a task outlives the intake's
     * continue-as-new and the next run picks up the wait.
     */
    async awaitTaskResult(input: { workflowId: string; runId: string; taskId: string }): Promise<TaskResult> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 5_000);
      try {
        const handle = ctx.client.workflow.getHandle(
          input.workflowId,
          undefined,
          input.runId ? { firstExecutionRunId: input.runId } : undefined,
        );
        // Aborted when the activity is cancelled or its worker shuts down: the wait is simply taken up again.
        return (await ctx.client.withAbortSignal(ctx.cancellationSignal, () => handle.result())) as TaskResult;
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        const failed = failedTaskResult(err);
        if (failed) return failed;
        const cause = (err as { cause?: Error }).cause;
        return {
          taskId: input.taskId,
          status: 'failed',
          error: cause?.message ?? (err as Error).message,
          costUsd: 0,
          tokens: NO_TOKENS,
          turns: 0,
        };
      } finally {
        clearInterval(beat);
      }
    },

    /** Update `addTasks`: validates task objects and queues each as `pending/<id>.yaml`. */
    async writePendingTasks(input: { folder: string; tasks: unknown[] }): Promise<string[]> {
      const spec = parseBatchSpec({ tasks: input.tasks }, 'addTasks');
      const base = baseOf(input.folder);
      await fs.mkdir(path.join(base, 'pending'), { recursive: true });
      for (const [i, t] of spec.tasks.entries()) {
        const file = `${t.id}.yaml`;
        if (await exists(path.join(base, 'running', file)))
          throw new SpecError([
            {
              file: 'addTasks',
              path: `tasks[${i}].id`,
              message: `task "${t.id}" is running now; wait for it to finish`,
            },
          ]);
      }
      for (const raw of input.tasks as { id: string }[]) {
        const dst = path.join(base, 'pending', `${raw.id}.yaml`);
        // Written beside and renamed in, so a poll never reads half a file.
        const tmp = path.join(base, `.${raw.id}.yaml.tmp`);
        await fs.writeFile(tmp, stringify(raw));
        await fs.rename(tmp, dst);
      }
      return spec.tasks.map((t) => t.id);
    },
  };
}

/** Counts per folder, for `nightshift status --intake`. */
export async function folderCounts(root: string, folder: string): Promise<Record<Folder, string[]>> {
  const base = path.resolve(root, folder);
  const out = {} as Record<Folder, string[]>;
  for (const f of FOLDERS) out[f] = await listYaml(path.join(base, f));
  return out;
}
