/**
 * A schedule over folder mode's tasks/pending/ takes its files as the intake does: a night
 * runs what is there and moves each file to completed/ or failed/ (back to pending/ if it
 * never ran), so the next night does not run it again; an empty folder is an empty night
 * with its report, not a failure; a dependency done on an earlier night is met.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';
import { loggedCommand, readLog } from '../helpers/batch';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';

const server = devServerForFile();

const ls = (root: string, f: string) =>
  existsSync(path.join(root, 'tasks', f)) ? readdirSync(path.join(root, 'tasks', f)).sort() : [];

test('a scheduled night over tasks/pending/ consumes its files; an empty folder is an empty night', async () => {
  const config = testConfig(server.env);
  const root = config.root;
  const pending = path.join(root, 'tasks', 'pending');
  mkdirSync(pending, { recursive: true });
  writeFileSync(path.join(pending, 'a.yaml'), `id: tidy\ncommand: '${loggedCommand('tidy', 0)}'\n`);
  writeFileSync(path.join(pending, 'b.yaml'), `id: notes\ndepends_on: tidy\ncommand: '${loggedCommand('notes', 0)}'\n`);
  writeFileSync(path.join(pending, 'c.yaml'), `id: broken\ncommand: '${loggedCommand('broken', 0, 3)}'\n`);
  writeFileSync(path.join(pending, 'd.yaml'), `id: after-broken\ndepends_on: broken\ncommand: echo never\n`);

  const client = server.env.client;
  const scheduleId = `folder-night-${process.pid}`;
  const schedule = await client.schedule.create({
    scheduleId,
    spec: { cronExpressions: ['0 2 * * *'] },
    action: {
      type: 'startWorkflow',
      workflowType: 'nightlyBatch',
      taskQueue: TASK_QUEUE,
      workflowId: scheduleId,
      args: [{ tasksFile: 'tasks/pending/' }],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  });
  const seen = new Set<string>();
  /** Triggers the schedule and returns the night it started, once it has ended. */
  const night = async (): Promise<BatchResult> => {
    // A scheduled run's workflow ID is the schedule's plus the second it was due: one trigger a second.
    await new Promise((r) => setTimeout(r, 1100));
    await schedule.trigger();
    for (;;) {
      const fresh = (await schedule.describe()).info.recentActions
        .map((a) => a.action.workflow.workflowId)
        .find((id) => !seen.has(id));
      if (fresh) {
        seen.add(fresh);
        return (await client.workflow.getHandle(fresh).result()) as BatchResult;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const worker = await testWorker(server.env, config);
  await worker.runUntil(async () => {
    const first = await night();
    assert.deepEqual(first.tasks.map((t) => `${t.taskId}:${t.status}`).sort(), [
      'after-broken:skipped',
      'broken:failed',
      'notes:succeeded',
      'tidy:succeeded',
    ]);
    assert.deepEqual(ls(root, 'completed'), ['a.yaml', 'b.yaml']);
    assert.deepEqual(ls(root, 'failed'), ['c.yaml', 'c.yaml.error.txt']);
    assert.match(readFileSync(path.join(root, 'tasks', 'failed', 'c.yaml.error.txt'), 'utf8'), /^failed/);
    // The skipped task never ran: it waits in pending/ for its dependency to be fixed.
    assert.deepEqual(ls(root, 'pending'), ['d.yaml']);
    assert.deepEqual(ls(root, 'running'), [], 'the night leaves nothing in running/');
    // Out of the folder, so the next night is empty.
    rmSync(path.join(pending, 'd.yaml'));

    // Nothing queued: an empty night that completes and writes its report.
    const empty = await night();
    assert.deepEqual(empty.tasks, []);
    assert.ok(empty.report && 'json' in empty.report, JSON.stringify(empty.report));
    assert.deepEqual(JSON.parse(readFileSync(path.join(root, empty.report.json), 'utf8')).results, []);

    // A file arriving later may depend on a task done on an earlier night.
    writeFileSync(
      path.join(pending, 'e.yaml'),
      `id: later\ndepends_on: tidy\ncommand: '${loggedCommand('later', 0)}'\n`,
    );
    const third = await night();
    assert.deepEqual(
      third.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['later:succeeded'],
    );
    assert.deepEqual(ls(root, 'completed'), ['a.yaml', 'b.yaml', 'e.yaml']);
  });
  // Each command ran on one night only.
  assert.deepEqual(
    readLog(root)
      .filter((e) => e.kind === 'start')
      .map((e) => e.id)
      .sort(),
    ['broken', 'later', 'notes', 'tidy'],
  );
  await schedule.delete();
});
