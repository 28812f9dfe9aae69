/** The worker-specific queue a worker polls, and the host id that names it (common/config.ts, common/task-queues.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../common/config';
import { TASK_QUEUE } from '../../contract';
import { hostTaskQueue } from '../../common/task-queues';
import { HOST_SCHEDULE_TO_START_MS, onHost, sandboxStep } from '../../workflows/activity-profiles';

const hostId = (env: Record<string, string>) => loadConfig({ PATH: process.env.PATH, ...env }).hostId;

test('the default host id is stable for a root and differs between roots on one machine', () => {
  const a = hostId({ NIGHTSHIFT_ROOT: '/srv/a' });
  assert.equal(hostId({ NIGHTSHIFT_ROOT: '/srv/a' }), a, 'a restarted worker on the same root polls the same queue');
  assert.notEqual(hostId({ NIGHTSHIFT_ROOT: '/srv/b' }), a, 'two scratch directories are two hosts');
  assert.equal(hostId({ NIGHTSHIFT_ROOT: '/srv/a', NIGHTSHIFT_HOST_ID: ' pod-7 ' }), 'pod-7');
  assert.equal(hostTaskQueue('pod-7'), `${TASK_QUEUE}@pod-7`);
});

test('a sandbox step goes to its host queue with a schedule-to-start timeout, or stays shared without one', () => {
  const shared = sandboxStep();
  assert.deepEqual(onHost(shared, {}), shared);
  const pinned = onHost(shared, { taskQueue: 'nightshift@pod-7' });
  assert.equal(pinned.taskQueue, 'nightshift@pod-7');
  assert.equal(pinned.scheduleToStartTimeout, HOST_SCHEDULE_TO_START_MS);
  assert.equal(onHost(shared, { taskQueue: 'nightshift@pod-7', scheduleToStartMs: 5000 }).scheduleToStartTimeout, 5000);
  assert.equal(pinned.heartbeatTimeout, shared.heartbeatTimeout, 'the rest of the profile is kept');
});
