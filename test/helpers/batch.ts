/** Running a batch spec against a test server and reading what its commands logged. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NightshiftWorker } from '../../worker';
import { TASK_QUEUE } from '../../contract';
import type { BatchInput, BatchResult } from '../../contract';
import { uniqueBatchId } from './temporal';

export function runBatch(
  env: TestWorkflowEnvironment,
  worker: NightshiftWorker,
  input: BatchInput,
  workflowId = uniqueBatchId(),
): Promise<BatchResult> {
  return worker.runUntil(
    env.client.workflow.execute('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId, args: [input] }),
  );
}

/**
 * A command that writes "start ID <ns>" and "end ID <ns>" around a sleep to events.log in
 * its workspace. Command tasks run in sandboxes that cannot write to the host, so the log
 * is read from the work the task leaves in `.nightshift/work/`.
 */
export function loggedCommand(id: string, seconds: number, exitCode = 0): string {
  return `echo "start ${id} $(date +%s%N)" >> events.log; sleep ${seconds}; echo "end ${id} $(date +%s%N)" >> events.log; exit ${exitCode}`;
}

export interface LogEvent {
  kind: 'start' | 'end';
  id: string;
  ns: bigint;
}

/** Every command task's events.log under NIGHTSHIFT_ROOT `root`, in one list, oldest first. */
export function readLog(root: string): LogEvent[] {
  const work = path.join(root, '.nightshift', 'work');
  const logs = existsSync(work)
    ? readdirSync(work)
        .map((d) => path.join(work, d, 'events.log'))
        .filter((f) => existsSync(f))
    : [];
  return logs
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind, id, ns] = l.split(' ');
      return { kind: kind as LogEvent['kind'], id, ns: BigInt(ns) };
    })
    .sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}

/** The most tasks running at one moment, from their logged start and end times. */
export function maxInFlight(events: LogEvent[]): number {
  let now = 0;
  let max = 0;
  for (const e of [...events].sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : a.kind === 'end' ? -1 : 1))) {
    now += e.kind === 'start' ? 1 : -1;
    max = Math.max(max, now);
  }
  return max;
}

/**
 * Whether any process's command line contains `fragment`, from the host's process table
 * (sandboxed commands run in their own PID namespace but are listed here too).
 */
export function commandRunning(fragment: string): boolean {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(fragment)) return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
}
