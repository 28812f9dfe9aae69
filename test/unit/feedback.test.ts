/**
 * The feedback file, read field by field (the fixture is the seed's own example,
 * copied verbatim); ratings stored beside the night's results; Action lines become lessons
 * in the next prompt; insights over a small history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseFeedback, FeedbackInvalid } from '../../activities/learning/feedback';
import { computeInsights } from '../../activities/learning/insights';
import { importFeedback, listLessons, removeLesson } from '../../activities/learning/store';
import { promptForTask } from '../../activities/task/prompt';
import { fileStoreFor } from '../../common/store';

/** One machine: the `file` store of the root. */
const place = (root: string) => ({ root, store: fileStoreFor({ root }) });

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'feedback', '2025-11-18.md');

test('the example feedback file, field by field', () => {
  const fb = parseFeedback(readFileSync(FIXTURE, 'utf8'), 'feedback/2025-11-18.md');
  assert.equal(fb.date, '2025-11-18');
  assert.equal(fb.tasks.length, 2);
  const [t1, t2] = fb.tasks;
  assert.deepEqual(
    {
      id: t1.taskId,
      name: t1.name,
      line: t1.line,
      rating: t1.rating,
      outOf: t1.outOf,
      good: t1.good,
      issues: t1.issues,
      actions: t1.actions,
      notes: t1.notes,
    },
    {
      id: 'task-001',
      name: 'Documentation Task',
      line: 3,
      rating: 5,
      outOf: 5,
      good: ['Perfect structure', 'Great examples'],
      issues: [],
      actions: [],
      notes: [],
    },
  );
  assert.deepEqual(
    {
      id: t2.taskId,
      name: t2.name,
      rating: t2.rating,
      outOf: t2.outOf,
      good: t2.good,
      issues: t2.issues,
      actions: t2.actions,
      notes: t2.notes,
    },
    {
      id: 'task-002',
      name: 'Pagination Implementation',
      rating: 3,
      outOf: 5,
      good: [],
      issues: ['Forgot to write tests', "Didn't follow PAGINATION.md exactly"],
      actions: [
        'Make testing mandatory in agent instructions',
        'Add PAGINATION.md to default context for pagination tasks',
      ],
      notes: [],
    },
  );
  assert.deepEqual(fb.orchestrator, {
    good: ['Cost tracking worked well'],
    improve: ['Question notifications were delayed'],
    notes: [],
  });
  assert.deepEqual(fb.tomorrow, [
    'Reduce question poll interval to 30 seconds',
    'Add automated test running to quality checks',
  ]);
});

test('a malformed feedback file: every problem with file and line', () => {
  const text =
    '# Feedback\n\nstray words\n## not a task heading\n## task-003: X\nRating: 7/5\nRating: 3/5\n## task-003: Again\n';
  assert.throws(
    () => parseFeedback(text, 'feedback/notes.md'),
    (err: unknown) => {
      assert.ok(err instanceof FeedbackInvalid);
      assert.match(err.message, /problems in the feedback file/);
      assert.match(err.message, /feedback\/notes\.md:3: text outside any section/);
      assert.match(err.message, /feedback\/notes\.md:4: expected "## task-id: Name"/);
      assert.match(
        err.message,
        /feedback\/notes\.md:6 task-003\.rating: must be N\/M with N at most M, e\.g\. 4\/5; got "7\/5"/,
      );
      assert.match(err.message, /feedback\/notes\.md:8 task-003: task task-003 has a section already \(line 5\)/);
      assert.match(err.message, /feedback\/notes\.md:1 date: no date/);
      return true;
    },
  );
});

function rootWithNight(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-feedback-'));
  mkdirSync(path.join(root, 'feedback'));
  mkdirSync(path.join(root, 'results'));
  mkdirSync(path.join(root, 'tasks'));
  copyFileSync(FIXTURE, path.join(root, 'feedback/2025-11-18.md'));
  const r = (task: string, state: string, role: string, complexity: string, model: string, costUsd: number) => ({
    task,
    title: task,
    state,
    status: state,
    role,
    complexity,
    model,
    costUsd,
  });
  writeFileSync(
    path.join(root, 'results/2025-11-18.json'),
    JSON.stringify({
      date: '2025-11-18',
      results: [
        r('task-001', 'succeeded', 'docs', 'low', 'claude-haiku-4-5', 0.2),
        r('task-002', 'succeeded', 'frontend', 'medium', 'claude-sonnet-4-5-20250929', 2.5),
      ],
    }),
  );
  writeFileSync(
    path.join(root, 'results/2025-11-19.json'),
    JSON.stringify({
      date: '2025-11-19',
      results: [
        r('task-007', 'failed', 'frontend', 'medium', 'claude-sonnet-4-5', 1.5),
        r('task-008', 'skipped', 'docs', 'low', 'claude-haiku-4-5', 0),
      ],
    }),
  );
  return root;
}

test("a feedback file's ratings are stored with the results and its Action lines become lessons in the next night's prompt", async () => {
  const root = rootWithNight();
  const r = await importFeedback(place(root), 'feedback/2025-11-18.md');
  assert.equal(r.ratingsFile, 'results/2025-11-18.feedback.json');
  assert.deepEqual(r.unknownTasks, []);
  assert.deepEqual(
    r.added.map((l) => [l.text, l.source, l.task, l.date, l.rating]),
    [
      ['Make testing mandatory in agent instructions', 'feedback/2025-11-18.md', 'task-002', '2025-11-18', '3/5'],
      [
        'Add PAGINATION.md to default context for pagination tasks',
        'feedback/2025-11-18.md',
        'task-002',
        '2025-11-18',
        '3/5',
      ],
    ],
  );
  const stored = JSON.parse(readFileSync(path.join(root, r.ratingsFile), 'utf8')) as {
    tasks: { taskId: string; rating: number }[];
  };
  assert.deepEqual(
    stored.tasks.map((t) => [t.taskId, t.rating]),
    [
      ['task-001', 5],
      ['task-002', 3],
    ],
  );

  // The next night's prompt carries the lessons (the prompt is built the way a worker builds it).
  writeFileSync(
    path.join(root, 'tasks/2025-11-19.yaml'),
    'tasks:\n  - id: task-010\n    title: Paginate the weddings list\n',
  );
  const { system } = await promptForTask('tasks/2025-11-19.yaml', 'task-010', root);
  assert.match(
    system,
    /## Lessons from earlier nights\n`{3,}\n- Make testing mandatory in agent instructions \(feedback 2025-11-18, task-002 rated 3\/5\)\n- Add PAGINATION\.md to default context/,
  );

  // Reading the file again adds nothing; a removed lesson stays removed.
  assert.equal((await importFeedback(place(root), 'feedback/2025-11-18.md')).added.length, 0);
  await removeLesson(place(root), r.added[0].id);
  assert.equal((await importFeedback(place(root), 'feedback/2025-11-18.md')).added.length, 0);
  assert.deepEqual(
    (await listLessons(place(root))).map((l) => l.text),
    ['Add PAGINATION.md to default context for pagination tasks'],
  );
  const after = await promptForTask('tasks/2025-11-19.yaml', 'task-010', root);
  assert.doesNotMatch(after.system, /Make testing mandatory/);
});

test('insights: success, cost and ratings by night, role, model and complexity', async () => {
  const root = rootWithNight();
  await importFeedback(place(root), 'feedback/2025-11-18.md');
  const i = await computeInsights(root);
  assert.deepEqual(i.total, {
    key: 'all',
    tasks: 3,
    succeeded: 2,
    successRate: 0.67,
    costUsd: 4.2,
    avgCostUsd: 1.4,
    avgRating: 4,
    rated: 2,
  });
  assert.deepEqual(
    i.byDate.map((r) => [r.key, r.tasks, r.successRate, r.avgRating]),
    [
      ['2025-11-18', 2, 1, 4],
      ['2025-11-19', 1, 0, undefined],
    ],
  );
  assert.deepEqual(
    i.byRole.map((r) => [r.key, r.tasks, r.succeeded, r.avgRating]),
    [
      ['docs', 1, 1, 5],
      ['frontend', 2, 1, 3],
    ],
  );
  assert.deepEqual(
    i.byModel.map((r) => [r.key, r.tasks, r.costUsd]),
    [
      ['claude-haiku-4-5', 1, 0.2],
      ['claude-sonnet-4-5', 2, 4],
    ],
  );
  assert.deepEqual(
    i.byComplexity.map((r) => [r.key, r.avgCostUsd]),
    [
      ['low', 0.2],
      ['medium', 2],
    ],
  );
});
