/**
 * A crash never costs minutes: for every activity type a night of one agent task and one
 * command task uses, the worker holding its first attempt dies (SIGKILL, at the start of
 * the attempt, see helpers/kill-on-activity-worker.ts) and the workflow history shows the
 * next attempt started within 30 s. Two workers run at all times, as in production, and
 * each dead one is replaced, so what is measured is the server noticing the death.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { TASK_QUEUE } from '../../common/config';
import type { BatchResult } from '../../workflows/contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startRecordingServer } from '../fakes/notify-servers';
import type { AttemptRecord, KillRecord } from '../helpers/kill-on-activity-worker';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const server = devServerForFile();

const KILLING_WORKER = path.join(__dirname, '..', 'helpers', 'kill-on-activity-worker.ts');
const LIMIT_MS = 30_000;

/** Every activity type the batch, the agent loop, delivery and a command task run in this night. */
const TYPES = [
  'loadBatchSpec',
  'reserveDaily',
  'reserveAllowance',
  'createAgentSandbox',
  'prepareAgent',
  'callModel',
  'runTool',
  'runChecks',
  'commitWork',
  'keepWork',
  'killSandbox',
  'runCommandTask',
  'notify',
  'writeReport',
];

const EventType = temporal.api.enums.v1.EventType;
const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

/** The last attempt of the killed activity as the workflow history records it (the history keeps only the last start). */
async function lastAttemptOf(k: KillRecord): Promise<{ attempt: number; startedAt: number }> {
  const history = await server.env.client.workflow.getHandle(k.workflowId, k.runId).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityId === k.activityId);
  assert.ok(scheduled, `${k.activityType}: activity ${k.activityId} is in the history of ${k.workflowId}`);
  const started = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled.eventId));
  assert.ok(started, `${k.activityType}: activity ${k.activityId} started again`);
  return { attempt: started.activityTaskStartedEventAttributes?.attempt ?? 0, startedAt: ms(started.eventTime) };
}

test('after a worker dies at the start of any activity, its next attempt starts within 30 s', async () => {
  const config = testConfig(server.env);
  const root = config.root;
  const killDir = path.join(root, 'kills');
  mkdirSync(killDir, { recursive: true });
  const repo = path.join(root, 'repo');
  mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo, stdio: 'pipe' });
  writeFileSync(path.join(repo, 'README.md'), '# repo\n');
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'start');

  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([toolUse('tu_w', 'write_file', { path: 'a.txt', content: 'a\n' }), toolUse('tu_b', 'bash', { command: 'cat a.txt' })], { usage: { input_tokens: 40, output_tokens: 5 } })
        : message([text('Done.'), toolUse('tu_f', 'finish', { summary: 'wrote a.txt', verification: 'cat a.txt' })], { usage: { input_tokens: 40, output_tokens: 5 } }),
  });
  const hook = await startRecordingServer({ kind: 'webhook' });
  const vars = {
    NIGHTSHIFT_ROOT: root,
    TEMPORAL_ADDRESS: server.env.address,
    TEMPORAL_NAMESPACE: 'default',
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
    NIGHTSHIFT_WEBHOOK_URL: hook.url,
    NIGHTSHIFT_TEST_KILL_ON: TYPES.join(','),
    NIGHTSHIFT_TEST_KILL_DIR: killDir,
  };

  let done = false;
  const workers: WorkerProcess[] = [];
  const spawning: Promise<unknown>[] = [];
  // Keeps two workers: each one that dies is replaced at once.
  const startOne = (): Promise<void> =>
    spawnWorker(vars, 120_000, { entry: KILLING_WORKER }).then(
      (w) => {
        workers.push(w);
        void w.exited.then(() => {
          if (!done) spawning.push(startOne());
        });
      },
      // Killed while starting up (it took an activity at once): replace it too.
      () => {
        if (!done) spawning.push(startOne());
      },
    );
  try {
    await Promise.all([startOne(), startOne()]);
    const spec = {
      max_cost_usd: 5,
      daily_max_cost_usd: 20,
      tasks: [
        { id: 'agent', title: 'Write a.txt', description: 'Write a.txt with one line.', context: { repo: 'repo' }, agent_config: { model: 'haiku', max_turns: 6 }, checks: ['test -f a.txt'] },
        { id: 'cmd', title: 'A command', command: 'echo command ran' },
      ],
    };
    const handle = await server.env.client.workflow.start('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId: uniqueBatchId('recovery'), args: [{ spec }] });
    const result = (await handle.result()) as BatchResult;
    done = true;
    assert.deepEqual(
      result.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['agent:succeeded', 'cmd:succeeded'],
      JSON.stringify(result.tasks.map((t) => t.error)),
    );

    const attempts = readFileSync(path.join(killDir, 'attempts.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AttemptRecord);
    const delays: Record<string, string> = {};
    let worst = 0;
    for (const type of TYPES) {
      const file = path.join(killDir, `${type}.json`);
      assert.ok(existsSync(file), `the night ran ${type}, and a worker died at its first attempt`);
      const k = JSON.parse(readFileSync(file, 'utf8')) as KillRecord;
      const last = await lastAttemptOf(k);
      assert.ok(last.attempt >= 2, `${type}: the history's last attempt is attempt ${last.attempt}`);
      // Attempt 2 started where a worker logged it; when it was the last attempt, the server's own timestamp says the same.
      const second = attempts.find((a) => a.workflowId === k.workflowId && a.runId === k.runId && a.activityId === k.activityId && a.attempt === 2);
      assert.ok(second, `${type}: attempt 2 of ${k.activityId} started on a worker`);
      const delay = Math.max(second.startedAt, last.attempt === 2 ? last.startedAt : 0) - k.killedAt;
      delays[type] = `${(delay / 1000).toFixed(1)} s${last.attempt === 2 ? '' : ` (the history's last start: attempt ${last.attempt})`}`;
      worst = Math.max(worst, delay);
      assert.ok(delay <= LIMIT_MS, `${type}: attempt 2 started ${delay} ms after the worker died (limit ${LIMIT_MS} ms)`);
    }
    console.log(`recovery delay per activity type (worst ${(worst / 1000).toFixed(1)} s):\n${Object.entries(delays).map(([t, d]) => `  ${t}: ${d}`).join('\n')}`);
  } finally {
    done = true;
    await Promise.allSettled(spawning);
    for (const w of workers) await w.kill('SIGKILL');
    await fake.close();
    await hook.close();
  }
});
