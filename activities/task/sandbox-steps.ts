/**
 * The sandbox side of the agent loop: create the task's sandbox (idempotent by workflow
 * ID), prepare its workspace and prompt, run one tool call per activity, keep the work,
 * and kill the sandbox. Tool inputs are read from the transcript store, so a 200 KB
 * write_file never travels through workflow history.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { inheritedEnv, stateDir, type NightshiftConfig } from '../../common/config';
import { repoLocation } from '../../common/repo-location';
import { sandboxRequest } from '../../sandbox/settings';
import { DEFAULT_SAFETY_POLICY, type SafetyPolicy } from '../../sandbox/policy';
import type { SandboxRouter } from '../../sandbox/router';
import { exportCheckpoint, importCheckpoint } from '../../sandbox/checkpoint-sync';
import {
  checkpoint,
  checkpointRef,
  git,
  hostWorkspaceOf,
  policyWorkspaceRoot,
  prepareWorkspace,
  remoteWorkspacePrepared,
  restore,
} from '../../sandbox/workspace';
import type { StateStore } from '../../common/store';
import type { SandboxSettings } from '../../sandbox/types';
import type { TaskSpec } from '../../taskfile/types';
import { workBranch } from '../../workflows/branches';
import { conflictSection, readConflict } from './delivery/merge-conflict';
import { baselineSection, readBaseline } from './delivery/baseline';
import { heartbeatEvery, whileBeating, withHeartbeats } from '../heartbeat';
import { buildSystemPrompt, firstMessage } from './prompt';
import { LESSONS_SCOPE, lessonsKey, SKILL_SCOPE, skillKey } from '../night/spec';
import {
  executeTool,
  SIDE_EFFECTING_TOOLS,
  TOOL_DEFINITIONS,
  WORKSPACE_CHANGING_TOOLS,
  type ToolContext,
  type ToolOutcome,
} from './tools';
import {
  getJson,
  keys,
  putJsonOnce,
  safeWorkflowDirName,
  type PromptRecord,
  type ToolRecord,
  type TranscriptStore,
  type TurnRecord,
} from './transcripts';
import { FailureType, SandboxGone } from '../../common/errors';

export interface AgentActivityDeps {
  config: Pick<NightshiftConfig, 'root'>;
  sandboxes: SandboxRouter;
  transcripts: TranscriptStore;
  /**
   * Shared with other hosts (not `hostLocal`): checkpoints are exported to it, and a task
   * rebuilt on this host takes its newest checkpoint from it. @default checkpoints stay in this host's checkpoints.git
   */
  store?: StateStore;
  /** @default DEFAULT_SAFETY_POLICY (no git writes, no migrations, no deletes outside) */
  safetyPolicy?: SafetyPolicy;
  /** Cap on one tool result the model reads. @default DEFAULT_TOOL_OUTPUT_CHARS */
  maxToolOutputChars?: number;
  /** This worker's own queue (ActivityDeps.hostTaskQueue), returned with every local sandbox it creates. */
  hostTaskQueue?: string;
}

/** A created sandbox, and the queue its activities must go to when it lives on this host's disk. */
export interface CreatedSandbox {
  sandboxId: string;
  /** Absent for remote providers (e2b, docker on a remote engine), which any worker reaches. */
  taskQueue?: string;
}

export interface ToolRunResult {
  isError: boolean;
  summary: string;
  /** Size of the result the model will read. */
  chars: number;
  /** Hash of the tool's name and input, and of the result the agent read: the no-progress guard compares them. */
  callHash?: string;
  resultHash?: string;
  /** The workspace tree after a call that may change it (its checkpoint's tree). */
  tree?: string;
}

const hash16 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
/**
 * A result with its clock readings taken out (durations, timestamps), so a command that
 * fails the same way twice hashes the same.
 */
function resultHashOf(isError: boolean, content: string): string {
  const steady = content
    .replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, '<time>')
    .replace(/\d+(\.\d+)?\s*(ms|s|sec|seconds)\b/g, '<duration>')
    .replace(/duration_ms:?\s*[\d.]+/g, '<duration>')
    .replace(/\d+\.\d+/g, '<n>');
  return hash16(`${isError ? 'error' : 'ok'}\0${steady}`);
}
const callHashOf = (name: string, input: unknown) => hash16(`${name}\0${JSON.stringify(input ?? {})}`);

const decoder = new TextDecoder('utf-8');

const TOOL_SCHEMA_CHARS = JSON.stringify(TOOL_DEFINITIONS).length;

/** A context or plan file larger than this is not read into the prompt. */
const MAX_CONTEXT_FILE_BYTES = 4 * 1024 * 1024;
/** A checkpoint's share of runTool's time (35 minutes for a bash of up to 30); past it the previous checkpoint stands. */
const CHECKPOINT_TIMEOUT_MS = 4 * 60_000;
/** keepWork copies no single file larger than this (a sparse 512 MiB file stays behind)… */
const KEEP_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** …and stops after this much in all: the kept copy is for reading, the branch holds the work. */
const KEEP_MAX_TOTAL_BYTES = 1024 * 1024 * 1024;
/** …and looks at no more entries than this: millions of empty files would fill the host's inodes. */
export const KEEP_MAX_ENTRIES = 100_000;

/** Where a task's files are kept after its sandbox is gone. */
export function workDirFor(config: Pick<NightshiftConfig, 'root'>, workflowId: string): string {
  return path.join(stateDir(config), 'work', safeWorkflowDirName(workflowId));
}

/** The bare repository holding every task's workspace checkpoints on this worker. */
export function checkpointStoreFor(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(stateDir(config), 'checkpoints.git');
}

const INTERRUPTED_BASH =
  'The worker running this command died before it reported back, so the command may have run in part or in full. It was not run again. Check the workspace (and rerun the command if it is safe to) before going on.';

export function createAgentActivities(deps: AgentActivityDeps) {
  const store = deps.transcripts;
  const policy = deps.safetyPolicy ?? DEFAULT_SAFETY_POLICY;

  /** A local sandbox is a directory on this host: its activities must come back here, which the returned queue says. */
  async function createSandbox(
    workflowId: string,
    settings: SandboxSettings | undefined,
    taskId?: string,
  ): Promise<CreatedSandbox> {
    // What a person looking at the provider's console needs to find the task the sandbox serves.
    const running = Context.current().info.workflowExecution?.workflowId;
    const metadata = {
      ...(running ? { nightshiftWorkflowId: running } : {}),
      ...(taskId ? { nightshiftTaskId: taskId } : {}),
    };
    const { provider, options } = sandboxRequest(settings, workflowId, { env: inheritedEnv(), metadata });
    const sandboxId = (await deps.sandboxes.createOn(provider, options)).id;
    return { sandboxId, ...(provider === 'local' && deps.hostTaskQueue ? { taskQueue: deps.hostTaskQueue } : {}) };
  }

  /**
   * Commits the workspace state to the checkpoint store, so a lost sandbox can be rebuilt
   * with the agent's work in it. A failed checkpoint must not fail the tool call that
   * already ran: it is logged, and the previous checkpoint stands.
   */
  async function checkpointQuietly(
    sandboxId: string,
    workflowId: string,
    message: string,
  ): Promise<string | undefined> {
    // Hashing a large work tree can outlast the heartbeat timeout.
    return whileBeating(async () => {
      const sandbox = await deps.sandboxes.connect(sandboxId);
      const store = checkpointStoreFor(deps.config);
      const commit = await checkpoint(sandbox, store, checkpointRef(workflowId), message, {
        timeoutMs: CHECKPOINT_TIMEOUT_MS,
      });
      if (deps.store && !deps.store.hostLocal)
        await exportCheckpoint(deps.store, store, workflowId, checkpointRef(workflowId));
      // The worker's own store, never the agent's .git: its tree is the workspace's state.
      return (await git(['--git-dir', store, 'rev-parse', `${commit}^{tree}`])).trim();
    }).catch((err: Error) => {
      Context.current().log.warn('workspace checkpoint failed', { workflowId, error: err.message });
      return undefined;
    });
  }

  const activities = {
    /** Idempotent by key: a retry, or a new run after continue-as-new, gets the same sandbox. */
    async createAgentSandbox(input: {
      workflowId: string;
      sandbox?: SandboxSettings;
      taskId?: string;
    }): Promise<CreatedSandbox> {
      return createSandbox(input.workflowId, input.sandbox, input.taskId);
    },

    /**
     * A task's sandbox was lost (its host reclaimed it, a person deleted it): builds a new
     * one under the same key and puts the workspace back as it was at the last checkpoint,
     * or, with no checkpoint yet, as a fresh clone. Idempotent: a retry finds the restored
     * workspace and leaves it alone.
     */
    async recreateAgentSandbox(input: {
      workflowId: string;
      sandboxId: string;
      sandbox?: SandboxSettings;
      task: TaskSpec;
    }): Promise<CreatedSandbox & { restored: 'checkpoint' | 'clone' | 'existing' | 'empty' }> {
      const { task } = input;
      // A half-gone local sandbox (workspace deleted, metadata left) would be found again by its key.
      const old = await deps.sandboxes.connect(input.sandboxId).catch(() => undefined);
      if (
        old &&
        !(await old.list('.').then(
          () => true,
          () => false,
        ))
      )
        await old.kill().catch(() => false);
      const made = await createSandbox(input.workflowId, input.sandbox, task.id);
      const sandbox = await deps.sandboxes.connect(made.sandboxId);
      const hostDir = hostWorkspaceOf(sandbox);
      const hasRepo =
        hostDir !== undefined ? existsSync(path.join(hostDir, '.git')) : await remoteWorkspacePrepared(sandbox);
      if (task.repo && hasRepo) return { ...made, restored: 'existing' };
      // The task may have run on another host until it died: its newest checkpoint is in the shared store.
      if (deps.store && !deps.store.hostLocal)
        await whileBeating(() =>
          importCheckpoint(
            deps.store!,
            checkpointStoreFor(deps.config),
            input.workflowId,
            checkpointRef(input.workflowId),
          ),
        );
      if (await restore(sandbox, checkpointStoreFor(deps.config), checkpointRef(input.workflowId)))
        return { ...made, restored: 'checkpoint' };
      if (!task.repo) return { ...made, restored: 'empty' };
      await prepareWorkspace(sandbox, {
        repo: repoLocation(deps.config.root, task.repo),
        branch: workBranch(task),
        contextFiles: task.contextFiles,
      });
      return { ...made, restored: 'clone' };
    },

    /**
     * Clones the task's repo into the workspace (once) and stores the prompt (once). A
     * retry finds both done and changes nothing, so the prompt a task started with is the
     * prompt it keeps even if lessons or skills change during the night.
     */
    async prepareAgent(input: {
      workflowId: string;
      sandboxId: string;
      task: TaskSpec;
    }): Promise<{ missingContextFiles: string[]; promptChars: number }> {
      const { task } = input;
      const sandbox = await deps.sandboxes.connect(input.sandboxId);
      let missing: string[] = [];
      if (task.repo) {
        const prepared = await prepareWorkspace(sandbox, {
          repo: repoLocation(deps.config.root, task.repo),
          branch: workBranch(task),
          contextFiles: task.contextFiles,
        });
        missing = prepared.missingContextFiles;
      }
      const existing = await getJson<PromptRecord>(store, input.workflowId, keys.prompt);
      // promptChars is what the first request holds (system, task, tool schemas): the budget's first estimate.
      if (existing)
        return {
          missingContextFiles: missing,
          promptChars: existing.system.length + existing.firstMessage.length + TOOL_SCHEMA_CHARS,
        };
      const reader = {
        async readFile(p: string): Promise<string | undefined> {
          try {
            return decoder.decode(await sandbox.readFile(p, { maxBytes: MAX_CONTEXT_FILE_BYTES }));
          } catch {
            return undefined;
          }
        },
      };
      const system = await buildSystemPrompt(task, reader, {
        root: deps.config.root,
        store: deps.store,
        storedSkill: deps.store ? (hash) => deps.store!.get('skills', SKILL_SCOPE, skillKey(hash)) : undefined,
        storedLessons: deps.store ? (hash) => deps.store!.get('lessons', LESSONS_SCOPE, lessonsKey(hash)) : undefined,
      });
      // A merge of dependencies' branches left to the agent (on_merge_conflict: agent) comes first.
      const conflict = await readConflict(store, input.workflowId);
      const first =
        firstMessage(task) +
        (conflict ? conflictSection(conflict) : '') +
        baselineSection(await readBaseline(store, input.workflowId));
      await putJsonOnce(store, input.workflowId, keys.prompt, { system, firstMessage: first } satisfies PromptRecord);
      return { missingContextFiles: missing, promptChars: system.length + first.length + TOOL_SCHEMA_CHARS };
    },

    /**
     * Runs tool call `toolUseId` of turn `turn`. The result is stored under that key; a
     * retry returns it instead of running the tool again. A bash command or edit that was
     * running when its worker died is not blindly repeated (see SIDE_EFFECTING_TOOLS).
     */
    async runTool(input: {
      workflowId: string;
      turn: number;
      toolUseId: string;
      sandboxId: string;
    }): Promise<ToolRunResult> {
      const { workflowId, turn, toolUseId } = input;
      const done = await getJson<ToolRecord & { tree?: string }>(store, workflowId, keys.tool(turn, toolUseId));
      const rec = await getJson<TurnRecord>(store, workflowId, keys.turn(turn));
      const use = rec?.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.id === toolUseId);
      if (done) {
        const hashes = use
          ? { callHash: callHashOf(use.name, use.input), resultHash: resultHashOf(done.isError, done.content) }
          : {};
        return {
          isError: done.isError,
          summary: done.summary,
          chars: done.content.length,
          ...hashes,
          ...(done.tree ? { tree: done.tree } : {}),
        };
      }
      if (!use)
        throw ApplicationFailure.nonRetryable(
          `turn ${turn} of ${workflowId} has no tool call ${toolUseId}`,
          FailureType.TranscriptMissing,
        );
      const toolInput = (use.input ?? {}) as Record<string, unknown>;

      const sideEffecting = SIDE_EFFECTING_TOOLS.has(use.name);
      const markerKey = keys.toolStarted(turn, toolUseId);
      const interrupted = sideEffecting && (await store.get(workflowId, markerKey)) !== undefined;

      let outcome: ToolOutcome;
      if (interrupted && use.name === 'bash') {
        outcome = {
          isError: true,
          content: INTERRUPTED_BASH,
          summary: 'bash: interrupted by a worker crash, not rerun',
        };
      } else {
        const ctx = Context.current();
        let lastOutput = '';
        const beat = setInterval(
          () => ctx.heartbeat({ turn, toolUseId, output: lastOutput.slice(-200) }),
          heartbeatEvery(ctx),
        );
        try {
          const sandbox = await deps.sandboxes.connect(input.sandboxId);
          const toolCtx: ToolContext = {
            sandbox,
            workspaceRoot: policyWorkspaceRoot(sandbox),
            policy,
            signal: ctx.cancellationSignal,
            onOutput: (c) => {
              lastOutput = c;
            },
            maxOutputChars: deps.maxToolOutputChars,
          };
          if (sideEffecting) await store.put(workflowId, markerKey, new Date().toISOString());
          try {
            outcome = await executeTool(use.name, toolInput, toolCtx, { retryAfterCrash: interrupted });
          } catch (err) {
            // The process is alive and saw the failure: nothing is half-done that a retry could repeat.
            if (sideEffecting) await store.delete(workflowId, markerKey);
            throw err;
          }
        } finally {
          clearInterval(beat);
        }
      }
      const tree =
        WORKSPACE_CHANGING_TOOLS.has(use.name) && !interrupted
          ? await checkpointQuietly(input.sandboxId, workflowId, `after turn ${turn} ${use.name}`)
          : undefined;
      const result: ToolRecord & { tree?: string } = {
        toolUseId,
        name: use.name,
        ...outcome,
        ...(tree ? { tree } : {}),
      };
      // A retry that lost to an earlier write answers with the record that won.
      const kept: ToolRecord & { tree?: string } = await putJsonOnce(
        store,
        workflowId,
        keys.tool(turn, toolUseId),
        result,
      );
      if (sideEffecting) await store.delete(workflowId, markerKey);
      return {
        isError: kept.isError,
        summary: kept.summary,
        chars: kept.content.length,
        callHash: callHashOf(use.name, use.input),
        resultHash: resultHashOf(kept.isError, kept.content),
        ...(kept.tree ? { tree: kept.tree } : {}),
      };
    },

    /**
     * Copies the workspace (without .git) to `<root>/.nightshift/work/<workflow>/` so the
     * work survives the sandbox. Replaces an earlier copy, so a retry gives the same result.
     * Symlinks, special files, files over KEEP_MAX_FILE_BYTES and paths the host cannot hold
     * are left out (counted in `skipped`); copying stops at KEEP_MAX_TOTAL_BYTES, and entries
     * past the first KEEP_MAX_ENTRIES are not looked at.
     */
    async keepWork(input: {
      workflowId: string;
      sandboxId: string;
    }): Promise<{ workDir: string; files: number; bytes: number; skipped: number }> {
      const sandbox = await deps.sandboxes.connect(input.sandboxId);
      const dest = workDirFor(deps.config, input.workflowId);
      const staging = `${dest}.staging`;
      await fs.rm(staging, { recursive: true, force: true });
      await fs.mkdir(staging, { recursive: true });
      let files = 0;
      let bytes = 0;
      let skipped = 0;
      for (const e of await sandbox.list('.', { depth: 64, maxEntries: KEEP_MAX_ENTRIES })) {
        if (e.type !== 'file' || /(^|\/)(\.git|node_modules)(\/|$)/.test(e.path)) continue;
        if (e.symlink || e.size > KEEP_MAX_FILE_BYTES || bytes + e.size > KEEP_MAX_TOTAL_BYTES) {
          skipped++;
          continue;
        }
        let data: Uint8Array;
        try {
          data = await sandbox.readFile(e.path, {
            maxBytes: Math.min(KEEP_MAX_FILE_BYTES, KEEP_MAX_TOTAL_BYTES - bytes),
          });
        } catch {
          skipped++;
          continue; // grown past the cap, swapped for a FIFO or symlink, or deleted meanwhile
        }
        const out = path.join(staging, e.path);
        if (!out.startsWith(staging + path.sep)) continue;
        try {
          await fs.mkdir(path.dirname(out), { recursive: true });
          await fs.writeFile(out, data, { flag: 'wx' });
        } catch {
          skipped++;
          continue; // a path the host cannot hold (longer than PATH_MAX)
        }
        files++;
        bytes += data.length;
      }
      await fs.rm(dest, { recursive: true, force: true });
      await fs.rename(staging, dest);
      return { workDir: dest, files, bytes, skipped };
    },

    /** @returns false if the sandbox was already gone (a retried kill is not an error). */
    async killSandbox(input: { sandboxId: string }): Promise<boolean> {
      try {
        return await (await deps.sandboxes.connect(input.sandboxId)).kill();
      } catch (err) {
        if ((err as Error).name === SandboxGone.name) return false;
        throw err;
      }
    },
  };
  // runTool beats with its output; the sandbox and bookkeeping steps beat for as long as they run.
  return withHeartbeats(activities, [
    'createAgentSandbox',
    'prepareAgent',
    'recreateAgentSandbox',
    'keepWork',
    'killSandbox',
  ]);
}
