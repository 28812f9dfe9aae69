/** What a batch by reference carries across continue-as-new instead of its tasks' results. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { createBatchResultActivities, resultKey } from '../../activities/night/results';
import { checkKey } from '../../common/store/types';
import { FileStateStore } from '../../common/store';
import { committedUsd, newLedger, requestAllowance, settleTask, spentUsd } from '../../workflows/budget/arithmetic';
import {
  compactLedger,
  ENDED_TASKS_LEDGER_KEY,
  EndedStates,
  RECORD_CHARS,
  recordBatches,
} from '../../workflows/night/results';
import { NO_TOKENS, type TaskResult, type TaskState } from '../../contract';

const result = (taskId: string, status: TaskState, extra: Partial<TaskResult> = {}): TaskResult => ({
  taskId,
  status,
  costUsd: 0,
  tokens: NO_TOKENS,
  turns: 0,
  endedAt: 1,
  ...extra,
});

test('each ended state packs to one character and reads back, a delivered branch marked apart', () => {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const first = new EndedStates(ids.length);
  const packed = first.pack(ids, {
    a: result('a', 'succeeded'),
    b: result('b', 'succeeded', { branch: 'nightshift/b', commit: 'abc' }),
    c: result('c', 'failed'),
    e: result('e', 'waiting_for_answer'),
  });
  assert.equal(packed.length, ids.length);
  const next = new EndedStates(ids.length, packed);
  assert.deepEqual(
    ids.map((_, i) => next.state(i)),
    ['succeeded', 'succeeded', 'failed', undefined, 'waiting_for_answer', undefined],
  );
  assert.deepEqual(
    ids.map((_, i) => next.delivered(i)),
    [false, true, false, false, false, false],
  );
  // A later run's results go over the carried states; the earlier ones stay.
  const again = new EndedStates(ids.length, next.pack(ids, { d: result('d', 'skipped'), f: result('f', 'stuck') }));
  assert.deepEqual(
    ids.map((_, i) => again.state(i)),
    ['succeeded', 'succeeded', 'failed', 'skipped', 'waiting_for_answer', 'stuck'],
  );
  for (const state of [
    'pending',
    'running',
    'succeeded',
    'failed',
    'incomplete',
    'halted',
    'cancelled',
    'skipped',
    'waiting_for_answer',
    'paused_budget',
    'stuck',
  ] as TaskState[]) {
    assert.equal(new EndedStates(1, new EndedStates(1).pack(['x'], { x: result('x', state) })).state(0), state);
  }
});

test('carried states of another length are refused: they belong to another spec', () => {
  assert.throws(() => new EndedStates(3, '..'), /cover 2 tasks, the spec has 3/);
});

test('the ledger folds ended tasks into one entry: the sums stay, their grants go', () => {
  const l = newLedger(10);
  requestAllowance(l, { taskId: 'a', key: 'a#1#0', spentUsd: 0, needUsd: 1 });
  settleTask(l, 'a', 0.25);
  requestAllowance(l, { taskId: 'b', key: 'b#1#0', spentUsd: 0, needUsd: 2 });
  settleTask(l, 'b', 1.5);
  requestAllowance(l, { taskId: 'c', key: 'c#1#0', spentUsd: 0.5, needUsd: 3 });
  const before = { spent: spentUsd(l), committed: committedUsd(l) };
  const once = compactLedger(l, ['a', 'b']);
  assert.deepEqual(Object.keys(once.tasks).sort(), [ENDED_TASKS_LEDGER_KEY, 'c'].sort());
  assert.deepEqual(Object.keys(once.lastGrant), ['c']);
  assert.deepEqual({ spent: spentUsd(once), committed: committedUsd(once) }, before);
  // The next run folds more into the same entry.
  settleTask(once, 'c', 0.75);
  const twice = compactLedger(once, ['c']);
  assert.deepEqual(Object.keys(twice.tasks), [ENDED_TASKS_LEDGER_KEY]);
  assert.equal(spentUsd(twice), 2.5);
  assert.equal(committedUsd(twice), 2.5);
  // A night of tasks that spent nothing carries nothing.
  const free = newLedger(5);
  for (const id of ['x', 'y']) settleTask(free, id, 0);
  assert.deepEqual(compactLedger(free, ['x', 'y']).tasks, {});
});

test('results are stored in calls that stay under the payload budget, a large one alone', () => {
  const small = Array.from({ length: 3000 }, (_, i) => result(`t${i}`, 'succeeded', { summary: 'x'.repeat(200) }));
  const big = result('big', 'failed', { error: 'y'.repeat(RECORD_CHARS + 10) });
  const parts = recordBatches([...small.slice(0, 1500), big, ...small.slice(1500)]);
  assert.deepEqual(
    parts.flat().map((r) => r.taskId),
    [...small.slice(0, 1500), big, ...small.slice(1500)].map((r) => r.taskId),
    'every result once, in order',
  );
  for (const p of parts)
    assert.ok(
      p.length === 1 || JSON.stringify(p).length <= RECORD_CHARS + p.length,
      `part of ${p.length} is ${JSON.stringify(p).length} chars`,
    );
  assert.ok(parts.some((p) => p.length === 1 && p[0].taskId === 'big'));
  assert.deepEqual(recordBatches([]), []);
});

test('results are stored once per night and task: a retry writes nothing, another night is apart', async () => {
  const store = new FileStateStore({ dir: mkdtempSync(path.join(os.tmpdir(), 'nightshift-results-')) });
  const { recordTaskResults, readTaskResults } = createBatchResultActivities(store);
  const night = { batchId: 'nightshift-2026-11-29', night: 'run-1' };
  const results = Array.from({ length: 40 }, (_, i) =>
    result(`t${i}`, i % 7 ? 'succeeded' : 'failed', { summary: `task ${i}` }),
  );
  assert.equal(await recordTaskResults({ ref: night, results }), 40);
  // A retried call, and a second writer with a different result: the first stays.
  assert.equal(
    await recordTaskResults({ ref: night, results: [...results.slice(0, 5), result('t1', 'cancelled')] }),
    0,
  );
  const asked = ['t39', 'missing', 't1', 't0'];
  assert.deepEqual(
    (await readTaskResults({ ref: night, taskIds: asked })).map((r) => [r.taskId, r.status, r.summary]),
    [
      ['t39', 'succeeded', 'task 39'],
      ['t1', 'succeeded', 'task 1'],
      ['t0', 'failed', 'task 0'],
    ],
  );
  // The same batch ID on another night (its first run ID) sees none of them.
  assert.deepEqual(await readTaskResults({ ref: { ...night, night: 'run-2' }, taskIds: ['t0'] }), []);
});

test('a fanned-out task ID (`<id>@<repo>`) has a store key of its own', () => {
  const ref = { batchId: 'nightshift-2026-11-29', night: 'run-1' };
  const keys = ['readme@alpha', 'readme@beta', 'readme_alpha', 'plain-id'].map((id) => resultKey(ref, id));
  for (const k of keys) checkKey(k);
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(keys[3], 'run-1.plain-id.json', 'a written ID is kept as it is');
});
