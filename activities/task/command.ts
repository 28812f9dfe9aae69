/**
 * Command tasks: a task with a plain `command:` runs it in the task's own sandbox, keyed by
 * its workflow ID like an agent task's, with the same safety policy and limits and through
 * the same exec (one spawn, timeout and kill-tree implementation). The workspace is a fresh
 * clone of the task's repo, or empty; it is kept in `.nightshift/work/<workflow>/` after the
 * command, and the sandbox is killed. Nothing of the command runs on the worker host.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { inheritedEnv, type NightshiftConfig } from '../../common/config';
import { repoLocation } from '../../common/repo-location';
import { checkCommand, DEFAULT_SAFETY_POLICY, type SafetyPolicy } from '../../sandbox/policy';
import type { SandboxRouter } from '../../sandbox/router';
import { sandboxRequest } from '../../sandbox/settings';
import type { Sandbox } from '../../sandbox/types';
import { policyWorkspaceRoot, prepareWorkspace } from '../../sandbox/workspace';
import type { TaskSpec } from '../../taskfile/types';
import { workBranch } from '../../workflows/branches';
import { whileBeating } from '../heartbeat';

export interface CommandResult {
  exitCode: number;
  timedOut: boolean;
  /** The last 8 KiB of combined output. */
  outputTail: string;
  durationMs: number;
}

const TAIL_BYTES = 8 * 1024;

export interface CommandActivityDeps {
  config: Pick<NightshiftConfig, 'root'>;
  sandboxes: SandboxRouter;
  /** @default DEFAULT_SAFETY_POLICY */
  safetyPolicy?: SafetyPolicy;
  /** Copies the workspace out of the sandbox (the agent activities' keepWork). */
  keepWork: (input: { workflowId: string; sandboxId: string }) => Promise<unknown>;
}

/**
 * The error an aborted command ends its activity with. A stopping worker's activity fails
 * retryably, so another worker runs the command again; a cancelled one reports the cancellation.
 */
function abortedBy(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN') {
    return ApplicationFailure.retryable(
      'the worker stopped while the command ran; another worker runs it again',
      'WorkerShutdown',
    );
  }
  return reason instanceof Error ? reason : new CancelledFailure('command aborted');
}

async function killQuietly(sandbox: Sandbox): Promise<void> {
  await sandbox.kill().catch(() => false);
}

export function createCommandActivities(deps: CommandActivityDeps) {
  const policy = deps.safetyPolicy ?? DEFAULT_SAFETY_POLICY;
  return {
    async runCommandTask(input: { workflowId: string; task: TaskSpec }): Promise<CommandResult> {
      const { task, workflowId } = input;
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      let tail = '';
      return whileBeating(
        async () => {
          // The same request as an agent task's sandbox, limits included: a command is no less able to fill a disk.
          const { provider, options } = sandboxRequest(task.sandbox, workflowId, { env: inheritedEnv() });
          // A retry starts from a fresh sandbox, so a half-finished earlier attempt leaves no trace.
          await deps.sandboxes.discardOn(provider, options);
          const sandbox = await deps.sandboxes.createOn(provider, options);
          try {
            checkCommand(task.command!, policy, policyWorkspaceRoot(sandbox));
            if (task.repo)
              await prepareWorkspace(sandbox, {
                repo: repoLocation(deps.config.root, task.repo),
                branch: workBranch(task),
              });
            const started = Date.now();
            let r;
            try {
              r = await sandbox.exec(task.command!, {
                timeoutMs: task.timeoutMs,
                signal,
                onOutput: (chunk) => {
                  tail = (tail + chunk).slice(-TAIL_BYTES);
                },
              });
            } catch (err) {
              // Killed because the activity was cancelled or its worker is stopping: not the command's failure.
              if (signal.aborted) throw abortedBy(signal);
              throw err;
            }
            await deps.keepWork({ workflowId, sandboxId: sandbox.id });
            const note = r.timedOut ? `\n[nightshift: killed after ${task.timeoutMs} ms timeout]\n` : '';
            return {
              exitCode: r.exitCode,
              timedOut: r.timedOut,
              outputTail: (tail + note).slice(-TAIL_BYTES),
              durationMs: Date.now() - started,
            };
          } finally {
            await killQuietly(sandbox);
          }
        },
        () => ({ output: tail.slice(-200) }),
      );
    },
  };
}
