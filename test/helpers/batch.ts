/** Running a batch spec against a test server and reading what its commands logged. */
import { readFileSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { TASK_QUEUE } from '../../common/config';
import type { BatchInput, BatchResult } from '../../workflows/contract';
import { uniqueBatchId } from './temporal';

export function runBatch(env: TestWorkflowEnvironment, worker: Worker, input: BatchInput, workflowId = uniqueBatchId()): Promise<BatchResult> {
  return worker.runUntil(env.client.workflow.execute('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId, args: [input] }));
}

/** A command that appends "start ID <ns>" and "end ID <ns>" around a sleep to a shared log. */
export function loggedCommand(log: string, id: string, seconds: number, exitCode = 0): string {
  return `echo "start ${id} $(date +%s%N)" >> ${log}; sleep ${seconds}; echo "end ${id} $(date +%s%N)" >> ${log}; exit ${exitCode}`;
}

export interface LogEvent {
  kind: 'start' | 'end';
  id: string;
  ns: bigint;
}

export function readLog(log: string): LogEvent[] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind, id, ns] = l.split(' ');
      return { kind: kind as LogEvent['kind'], id, ns: BigInt(ns) };
    });
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
