/**
 * Command tasks: a task with a plain `command:` runs it in a fresh checkout of its repo
 * (or an empty directory). Deterministic work such as code generation needs no agent.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { NightshiftConfig } from '../common/config';
import { repoLocation } from '../common/repo-location';
import type { TaskSpec } from '../spec/types';
import { workDirFor } from './agent';
import { whileBeating } from './heartbeat';

export interface CommandResult {
  exitCode: number;
  timedOut: boolean;
  /** The last 8 KiB of combined output. */
  outputTail: string;
  durationMs: number;
}

const TAIL_BYTES = 8 * 1024;

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, signal: AbortSignal, onOutput: (s: string) => void): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // Own process group, so a timeout or cancellation kills the whole tree, not just bash.
    const child = spawn(cmd, args, {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, LANG: 'C.UTF-8' },
    });
    let tail = '';
    let timedOut = false;
    const onData = (b: Buffer) => {
      const s = b.toString('utf8');
      tail = (tail + s).slice(-TAIL_BYTES);
      onOutput(s);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const killTree = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, timeoutMs);
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      killTree();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      // Killed because the activity was cancelled or its worker is stopping: not the command's exit code.
      if (aborted) reject(abortedBy(signal));
      else resolve({ exitCode: code ?? (sig ? 128 + 9 : 1), timedOut, outputTail: tail, durationMs: Date.now() - started });
    });
  });
}

/**
 * The error an aborted command ends its activity with. A stopping worker's activity fails
 * retryably, so another worker runs the command again; a cancelled one reports the cancellation.
 */
function abortedBy(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN') {
    return ApplicationFailure.retryable('the worker stopped while the command ran; another worker runs it again', 'WorkerShutdown');
  }
  return reason instanceof Error ? reason : new CancelledFailure('command aborted');
}

async function checkout(config: Pick<NightshiftConfig, 'root'>, task: TaskSpec, dir: string, signal: AbortSignal): Promise<void> {
  // A retry starts from a clean directory, so a half-finished earlier attempt leaves no trace.
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(path.dirname(dir), { recursive: true });
  if (!task.repo) {
    await fs.mkdir(dir, { recursive: true });
    return;
  }
  const repo = repoLocation(config.root, task.repo);
  const args = ['clone', '--quiet', ...(task.branch ? ['--branch', task.branch] : []), repo, dir];
  const r = await run('git', args, path.dirname(dir), 10 * 60_000, signal, () => undefined);
  if (r.exitCode !== 0) throw new Error(`git clone of ${task.repo} failed: ${r.outputTail.trim()}`);
}

export function createCommandActivities(config: Pick<NightshiftConfig, 'root'>) {
  return {
    async runCommandTask(input: { workflowId: string; task: TaskSpec }): Promise<CommandResult> {
      const ctx = Context.current();
      const dir = workDirFor(config, input.workflowId);
      let last = '';
      return whileBeating(
        async () => {
          await checkout(config, input.task, dir, ctx.cancellationSignal);
          return run('bash', ['-c', input.task.command!], dir, input.task.timeoutMs, ctx.cancellationSignal, (s) => {
            last = s;
          });
        },
        () => ({ output: last.slice(-200) }),
      );
    },
  };
}
