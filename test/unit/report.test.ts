/** The morning report, checked field by field on a batch with one of each outcome. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderReportMarkdown, writeReportFiles } from '../../activities/report';
import type { BatchStatus, TaskStatus } from '../../workflows/contract';

const task = (taskId: string, status: TaskStatus['status'], extra: Partial<TaskStatus> = {}): TaskStatus => ({
  taskId,
  title: `Title ${taskId}`,
  workflowId: `nightshift-2026-11-21/${taskId}`,
  status,
  costUsd: 0,
  tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
  turns: 0,
  ...extra,
});

const batch: BatchStatus = {
  batchId: 'nightshift-2026-11-21',
  date: '2026-11-21',
  state: 'completed',
  source: 'tasks/2026-11-21.yaml',
  startedAt: Date.UTC(2026, 10, 21, 1),
  endedAt: Date.UTC(2026, 10, 21, 5),
  tasks: [
    task('task-001', 'succeeded', { costUsd: 1.25, tokens: { input: 1000, output: 200, cacheWrite: 50, cacheRead: 500 }, turns: 7, startedAt: Date.UTC(2026, 10, 21, 1), endedAt: Date.UTC(2026, 10, 21, 1, 30), summary: 'added pagination', prUrl: 'https://github.example/o/r/pull/7' }),
    task('task-002', 'failed', { costUsd: 0.5, error: 'command exited with 1: tests failed' }),
    task('task-003', 'skipped', { error: 'dependency task-002 failed' }),
    task('task-004', 'halted', { error: 'policy git-commit forbids: git commit -m x' }),
  ],
};

test('markdown: needs-a-human first, totals against the budget, every task with its fields', () => {
  const md = renderReportMarkdown(batch, 10);
  const needs = md.slice(md.indexOf('## Needs a human'), md.indexOf('## Tasks'));
  assert.match(needs, /\*\*task-002\*\* \(Title task-002\): failed — command exited with 1: tests failed/);
  assert.match(needs, /\*\*task-004\*\* \(Title task-004\): halted by the safety policy — policy git-commit forbids/);
  assert.doesNotMatch(needs, /task-001|task-003/);
  assert.match(md, /4 tasks: 1 succeeded, 1 failed, 1 skipped, 2 need a human\./);
  assert.match(md, /Cost: \$1\.75 of \$10\.00 \(18 %\) · tokens: 1750/);
  assert.match(md, /\| task-001 \| succeeded \| \$1\.25 \| 1750 \| 7 \| 30\.0 min \| https:\/\/github\.example\/o\/r\/pull\/7 \|/);
  assert.match(md, /- cost: \$1\.25 \(input 1000, output 200, cache write 50, cache read 500 tokens\) over 7 turns/);
  assert.match(md, /### task-003: Title task-003\n\n- status: skipped[\s\S]*- reason: dependency task-002 failed/);
  assert.doesNotMatch(md, /Offline replay model/);
  const replayed = renderReportMarkdown({ ...batch, tasks: [{ ...batch.tasks[0], model: 'replay:example.json', replay: true }] });
  assert.match(replayed, /\*\*Offline replay model:\*\* no live model ran tonight/);
  assert.match(replayed, /- model: replay:example\.json \(replay: recorded answers, not a live model\)/);
});

test('files: results/<date>-report.md and results/<date>.json with one record per task', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-report-'));
  const files = await writeReportFiles(root, batch, 10);
  assert.deepEqual(files, { markdown: 'results/2026-11-21-report.md', json: 'results/2026-11-21.json' });
  const json = JSON.parse(readFileSync(path.join(root, files.json), 'utf8'));
  assert.equal(json.costUsd, 1.75);
  assert.equal(json.budgetUsd, 10);
  assert.deepEqual(json.results.map((r: { task: string; status: string }) => `${r.task}:${r.status}`), ['task-001:success', 'task-002:failed', 'task-003:skipped', 'task-004:halted']);
  assert.equal(json.results[1].message, 'command exited with 1: tests failed');
  assert.equal(json.results[0].startedAt, '2026-11-21T01:00:00.000Z');
  const other = await writeReportFiles(root, { ...batch, batchId: 'nightshift-demo-2026-11-21' });
  assert.equal(other.markdown, 'results/nightshift-demo-2026-11-21-report.md', 'a non-default batch never overwrites the night\'s report');
});
