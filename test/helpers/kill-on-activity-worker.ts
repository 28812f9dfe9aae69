/**
 * A worker process for recovery tests: the real worker (worker/main.ts), which SIGKILLs
 * itself at the start of the first attempt that reaches a worker of each activity type named
 * in NIGHTSHIFT_TEST_KILL_ON (comma-separated), once per type across all such processes
 * (usually attempt 1; a later one when a death meant for another type took the first along).
 * Before dying it writes NIGHTSHIFT_TEST_KILL_DIR/<type>.json with the activity's
 * workflow, activity ID, attempt and the moment of death, so the test can find the next attempt in
 * the history. Every attempt of those types also appends a line to attempts.jsonl there:
 * when one worker's death kills several activities, the history keeps only the last
 * attempt's start, and this log keeps each. Both records carry the input's turn, so a model
 * call the workflow retries as a new activity (one attempt each) can be matched to its turn.
 * NIGHTSHIFT_TEST_KILL_FROM_TURN=n spares the activities of earlier turns, so a worker can
 * do some of a task's work before it dies.
 */
import { appendFileSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { runWorker } from '../../worker/main';

export interface AttemptRecord {
  activityType: string;
  workflowId: string;
  runId: string;
  activityId: string;
  attempt: number;
  startedAt: number;
  /** The agent-loop turn the activity belongs to, when its input names one (callModel, runTool). */
  turn?: number;
}

export interface KillRecord {
  activityType: string;
  workflowId: string;
  runId: string;
  activityId: string;
  /** The attempt the worker died at: 1, unless another death took the first attempts before they reached a worker. */
  attempt: number;
  killedAt: number;
  turn?: number;
}

const types = new Set((process.env.NIGHTSHIFT_TEST_KILL_ON ?? '').split(',').filter(Boolean));
const dir = process.env.NIGHTSHIFT_TEST_KILL_DIR ?? '';
const fromTurn = Number(process.env.NIGHTSHIFT_TEST_KILL_FROM_TURN ?? 0);

/** True for the one process that claims `type` (exclusive create: two workers never both die for it). */
function claim(record: KillRecord): boolean {
  mkdirSync(dir, { recursive: true });
  let fd: number;
  try {
    fd = openSync(path.join(dir, `${record.activityType}.json`), 'wx');
  } catch {
    return false;
  }
  writeSync(fd, JSON.stringify(record));
  closeSync(fd);
  return true;
}

const killOnFirstAttempt: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const { activityType, attempt, workflowExecution, activityId } = ctx.info;
      if (dir && types.has(activityType)) {
        const at = Date.now();
        const turn = (input.args[0] as { turn?: unknown } | undefined)?.turn;
        const ids = {
          activityType,
          workflowId: workflowExecution?.workflowId ?? '',
          runId: workflowExecution?.runId ?? '',
          activityId,
          ...(typeof turn === 'number' ? { turn } : {}),
        };
        mkdirSync(dir, { recursive: true });
        appendFileSync(
          path.join(dir, 'attempts.jsonl'),
          JSON.stringify({ ...ids, attempt, startedAt: at } satisfies AttemptRecord) + '\n',
        );
        const spared = fromTurn > 0 && !(typeof turn === 'number' && turn >= fromTurn);
        if (!spared && claim({ ...ids, attempt, killedAt: at })) process.kill(process.pid, 'SIGKILL');
      }
      return next(input);
    },
  },
});

runWorker({ workerOptions: { interceptors: { activity: [killOnFirstAttempt] } } }).catch((err) => {
  console.error(`nightshift worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
