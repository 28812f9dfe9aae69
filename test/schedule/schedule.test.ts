/**
 * Nightly schedules on a real dev server: created with the nightshift CLI and with the
 * Temporal CLI as docs/operations.md shows, triggered, their batch run to the end with the night's
 * date taken from the scheduled time, then paused, unpaused and deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BatchResult } from '../../contract';
import { dateInZone } from '../../workflows/night/schedule-date';
import type { ScheduleInfo } from '../../client/commands/schedule';
import { cliHarness } from '../helpers/cli';

const cli = cliHarness((root) => {
  mkdirSync(path.join(root, 'tasks', 'pending'), { recursive: true });
  writeFileSync(path.join(root, 'tasks', 'pending', 'a.yaml'), 'id: tidy\ntitle: Tidy up\ncommand: echo tidied\n');
  writeFileSync(path.join(root, 'tasks', 'pending', 'b.yaml'), 'id: notes\ndepends_on: tidy\ncommand: echo noted\n');
});
const { temporal, nightshift } = cli;

/** The first batch the schedule starts, once it has ended. */
async function firstBatch(scheduleId: string): Promise<{ batchId: string; result: BatchResult }> {
  for (;;) {
    const d = await cli.env.client.schedule.getHandle(scheduleId).describe();
    const a = d.info.recentActions[0];
    if (a)
      return {
        batchId: a.action.workflow.workflowId,
        result: await cli.env.client.workflow.getHandle(a.action.workflow.workflowId).result(),
      };
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('nightshift schedule create / list / trigger / pause / unpause / delete; the triggered night runs', async () => {
  const created: ScheduleInfo = JSON.parse(
    (
      await nightshift(
        'schedule',
        'create',
        '--cron',
        '0 2 * * *',
        '--tasks',
        'tasks/pending/',
        '--timezone',
        'Pacific/Kiritimati',
        '--json',
      )
    ).stdout,
  );
  assert.equal(created.scheduleId, 'nightshift-nightly');
  assert.deepEqual(created.cron, ['0 2 * * *']);
  assert.equal(created.timezone, 'Pacific/Kiritimati');
  assert.equal(created.tasksFile, 'tasks/pending');
  assert.equal(created.paused, false);
  // 02:00 in UTC+14 is 12:00 UTC the day before.
  assert.match(created.nextRuns[0], /T12:00:00\.000Z$/);

  const policies = (await cli.env.client.schedule.getHandle('nightshift-nightly').describe()).policies;
  assert.equal(policies.overlap, 'SKIP');
  assert.equal(policies.catchupWindow, 6 * 3_600_000);

  await assert.rejects(
    nightshift('schedule', 'create', '--cron', '0 2 * * *', '--tasks', 'tasks/pending/'),
    (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /schedule nightshift-nightly already exists/);
      return true;
    },
  );

  const triggeredAt = new Date();
  await nightshift('schedule', 'trigger');
  const { batchId, result } = await firstBatch('nightshift-nightly');
  assert.match(batchId, /^nightshift-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  // The night's date is the scheduled time's date in the schedule's zone (UTC+14 here, so it
  // differs from the UTC date for ten hours of every day).
  const expected = dateInZone(triggeredAt, 'Pacific/Kiritimati');
  assert.ok(
    [expected, dateInZone(new Date(), 'Pacific/Kiritimati')].includes(result.date),
    `${result.date} vs ${expected}`,
  );
  assert.equal(result.scheduleId, 'nightshift-nightly');
  assert.deepEqual(
    result.tasks.map((t) => `${t.taskId}:${t.status}`),
    ['tidy:succeeded', 'notes:succeeded'],
  );
  // The default schedule's night writes the night's report: results/<date>.json.
  assert.deepEqual(result.report, {
    markdown: `results/${result.date}-report.md`,
    json: `results/${result.date}.json`,
    junit: `results/${result.date}.junit.xml`,
  });
  assert.equal(
    JSON.parse(readFileSync(path.join(cli.root, 'results', `${result.date}.json`), 'utf8')).results.length,
    2,
  );

  const listed: ScheduleInfo[] = JSON.parse((await nightshift('schedule', 'list', '--json')).stdout);
  const mine = listed.find((s) => s.scheduleId === 'nightshift-nightly');
  assert.ok(mine);
  assert.equal(mine.recentBatches[0].batchId, batchId);

  await nightshift('schedule', 'pause', '--note', 'holiday');
  let d = await cli.env.client.schedule.getHandle('nightshift-nightly').describe();
  assert.equal(d.state.paused, true);
  assert.equal(d.state.note, 'holiday');
  assert.match(
    (await nightshift('schedule', 'list')).stdout,
    /nightshift-nightly\s+0 2 \* \* \*\s+Pacific\/Kiritimati\s+paused/,
  );
  await nightshift('schedule', 'unpause');
  d = await cli.env.client.schedule.getHandle('nightshift-nightly').describe();
  assert.equal(d.state.paused, false);

  assert.deepEqual(JSON.parse((await nightshift('schedule', 'delete', '--json')).stdout), {
    scheduleId: 'nightshift-nightly',
    action: 'delete',
    ok: true,
  });
  await assert.rejects(nightshift('schedule', 'trigger'), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 5);
    assert.match(err.stderr, /no schedule "nightshift-nightly"/);
    return true;
  });
});

test('the documented temporal schedule create starts the same night', async () => {
  await temporal(
    'schedule',
    'create',
    '--schedule-id',
    'nightshift-docs',
    '--cron',
    '0 2 * * *',
    '--time-zone',
    'Europe/Berlin',
    '--overlap-policy',
    'Skip',
    '--catchup-window',
    '6h',
    '--workflow-id',
    'nightshift-docs',
    '--type',
    'nightlyBatch',
    '--task-queue',
    'nightshift',
    '--input',
    '{"tasksFile":"tasks/pending/","timezone":"Europe/Berlin"}',
  );
  const triggeredAt = new Date();
  await temporal('schedule', 'trigger', '--schedule-id', 'nightshift-docs');
  const { batchId, result } = await firstBatch('nightshift-docs');
  assert.match(batchId, /^nightshift-docs-/);
  assert.ok([dateInZone(triggeredAt, 'Europe/Berlin'), dateInZone(new Date(), 'Europe/Berlin')].includes(result.date));
  assert.equal(result.scheduleId, 'nightshift-docs');
  assert.deepEqual(result.report, {
    markdown: `results/${result.date}-nightshift-docs-report.md`,
    json: `results/${result.date}-nightshift-docs.json`,
    junit: `results/${result.date}-nightshift-docs.junit.xml`,
  });
  await temporal('schedule', 'delete', '--schedule-id', 'nightshift-docs');
});

test('bad cron, zone and path are refused before anything is created', async () => {
  await assert.rejects(
    nightshift('schedule', 'create', '--cron', '0 2 * * *', '--tasks', 'tasks/pending/', '--timezone', 'Mars/Olympus'),
    /unknown time zone "Mars\/Olympus"/,
  );
  await assert.rejects(
    nightshift('schedule', 'create', '--cron', '0 2 * * *', '--tasks', '../elsewhere'),
    /outside NIGHTSHIFT_ROOT/,
  );
  await assert.rejects(
    nightshift('schedule', 'create', '--cron', 'not a cron', '--tasks', 'tasks/pending/', '--id', 'bad-cron'),
    (err: { code: number; stderr: string }) => err.code === 2 && /--cron "not a cron"/.test(err.stderr),
  );
});
