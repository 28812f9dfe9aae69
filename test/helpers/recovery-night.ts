/**
 * The recovery-time tests' shared half: a pool of killing workers (kill-on-activity-worker.ts)
 * in which every dead worker is replaced at once, and the measurement of each killed
 * activity's next start from the workflow history and the workers' attempt log.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AttemptRecord, KillRecord } from './kill-on-activity-worker';
import { spawnWorker, type WorkerProcess } from './worker-process';

const KILLING_WORKER = path.join(__dirname, 'kill-on-activity-worker.ts');

/** After a worker death, the next attempt of the activity it held starts within this. */
export const RECOVERY_LIMIT_MS = 30_000;

/** A one-commit repository on `main` at `<root>/repo`, for the night's tasks to clone. */
export function seededRepo(root: string): string {
  const repo = path.join(root, 'repo');
  mkdirSync(repo);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo, stdio: 'pipe' });
  writeFileSync(path.join(repo, 'README.md'), '# repo\n');
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'start');
  return repo;
}

/**
 * Activities with one attempt each, whose retries the workflow owns (workflows/budget/task-side.ts
 * callWithBookedAttempts): a killed one times out on its heartbeat and is booked, and the
 * next attempt is a new activity of the same type and turn.
 */
const WORKFLOW_RETRIED = new Set(['callModel', 'simpleModelCall']);

export interface WorkerPool {
  /** Stops replacing workers and kills those still running. */
  stop(): Promise<void>;
}

/** Keeps `size` killing workers running: each one that dies (or dies while starting) is replaced at once. */
export async function startKillingWorkers(vars: Record<string, string>, size: number): Promise<WorkerPool> {
  let done = false;
  const workers: WorkerProcess[] = [];
  const spawning: Promise<unknown>[] = [];
  const startOne = (): Promise<void> =>
    spawnWorker(vars, 120_000, { entry: KILLING_WORKER }).then(
      (w) => {
        workers.push(w);
        void w.exited.then(() => {
          if (!done) spawning.push(startOne());
        });
      },
      () => {
        if (!done) spawning.push(startOne());
      },
    );
  await Promise.all(Array.from({ length: size }, startOne));
  return {
    async stop() {
      done = true;
      await Promise.allSettled(spawning);
      for (const w of workers) await w.kill('SIGKILL');
    },
  };
}

const EventType = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const ms = (t: HistoryEvent['eventTime']) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

function readAttempts(killDir: string): AttemptRecord[] {
  return readFileSync(path.join(killDir, 'attempts.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AttemptRecord);
}

function startOf(
  events: HistoryEvent[],
  type: string,
  activityId: string,
): { scheduled: HistoryEvent; started?: HistoryEvent; ended?: HistoryEvent } {
  const scheduled = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityId === activityId,
  );
  assert.ok(scheduled, `${type}: activity ${activityId} is in the history`);
  const id = Number(scheduled.eventId);
  const started = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
      Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === id,
  );
  const ended = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT &&
      Number(e.activityTaskTimedOutEventAttributes?.scheduledEventId) === id,
  );
  return { scheduled, started, ended };
}

/**
 * For each type: the delay from the death of the worker that held its first attempt to the
 * start of the next attempt, asserted within RECOVERY_LIMIT_MS. Returns the delays in ms.
 */
export async function recoveryDelays(
  env: TestWorkflowEnvironment,
  killDir: string,
  types: readonly string[],
): Promise<Record<string, number>> {
  const attempts = readAttempts(killDir);
  const delays: Record<string, number> = {};
  for (const type of types) {
    const file = path.join(killDir, `${type}.json`);
    assert.ok(existsSync(file), `the night ran ${type}, and a worker died at its start`);
    const k = JSON.parse(readFileSync(file, 'utf8')) as KillRecord;
    const history = await env.client.workflow.getHandle(k.workflowId, k.runId).fetchHistory();
    const events = history.events ?? [];
    const killed = startOf(events, type, k.activityId);
    let delay: number;
    if (WORKFLOW_RETRIED.has(type)) {
      // The killed attempt ends on its heartbeat timeout; the workflow books it and schedules the same call again.
      assert.ok(killed.ended, `${type}: the killed activity ${k.activityId} timed out in the history`);
      const next = attempts
        .filter(
          (a) =>
            a.workflowId === k.workflowId &&
            a.runId === k.runId &&
            a.activityType === type &&
            a.turn === k.turn &&
            a.activityId !== k.activityId &&
            a.startedAt > k.killedAt,
        )
        .sort((a, b) => a.startedAt - b.startedAt)[0];
      assert.ok(next, `${type}: a new ${type} activity for turn ${k.turn} started on a worker after the kill`);
      const again = startOf(events, type, next.activityId);
      assert.ok(
        Number(again.scheduled.eventId) > Number(killed.ended.eventId),
        `${type}: ${next.activityId} was scheduled after ${k.activityId} timed out`,
      );
      assert.ok(again.started, `${type}: ${next.activityId} started in the history`);
      delay = Math.max(next.startedAt, ms(again.started.eventTime)) - k.killedAt;
    } else {
      // The history keeps only the last attempt's start; the next attempt's start is in the workers' log.
      const nextAttempt = k.attempt + 1;
      assert.ok(killed.started, `${type}: activity ${k.activityId} started again`);
      const last = killed.started.activityTaskStartedEventAttributes?.attempt ?? 0;
      assert.ok(
        last >= nextAttempt,
        `${type}: the history's last attempt is attempt ${last}, the worker died at attempt ${k.attempt}`,
      );
      const next = attempts.find(
        (a) =>
          a.workflowId === k.workflowId &&
          a.runId === k.runId &&
          a.activityId === k.activityId &&
          a.attempt === nextAttempt,
      );
      assert.ok(next, `${type}: attempt ${nextAttempt} of ${k.activityId} started on a worker`);
      delay = Math.max(next.startedAt, last === nextAttempt ? ms(killed.started.eventTime) : 0) - k.killedAt;
    }
    delays[type] = delay;
  }
  console.log(
    `recovery delay per activity type:\n${Object.entries(delays)
      .map(([t, d]) => `  ${t}: ${(d / 1000).toFixed(1)} s`)
      .join('\n')}`,
  );
  for (const [type, delay] of Object.entries(delays))
    assert.ok(
      delay <= RECOVERY_LIMIT_MS,
      `${type}: the next attempt started ${delay} ms after the worker died (limit ${RECOVERY_LIMIT_MS} ms)`,
    );
  return delays;
}
