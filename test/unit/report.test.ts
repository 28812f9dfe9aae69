/** The morning report, checked field by field on a batch with one of each outcome. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderReportMarkdown, writeReportFiles } from '../../activities/night/report';
import type { BatchStatus, TaskStatus } from '../../contract';
import { taskStatus } from '../helpers/task-status';

const task = (taskId: string, status: TaskStatus['status'], extra: Partial<TaskStatus> = {}): TaskStatus =>
  taskStatus(taskId, { title: `Title ${taskId}`, status, ...extra });

const batch: BatchStatus = {
  batchId: 'nightshift-2026-11-21',
  date: '2026-11-21',
  state: 'completed',
  source: 'tasks/2026-11-21.yaml',
  startedAt: Date.UTC(2026, 10, 21, 1),
  endedAt: Date.UTC(2026, 10, 21, 5),
  tasks: [
    task('task-001', 'succeeded', {
      costUsd: 1.25,
      tokens: { input: 1000, output: 200, cacheWrite: 50, cacheRead: 500 },
      turns: 7,
      startedAt: Date.UTC(2026, 10, 21, 1),
      endedAt: Date.UTC(2026, 10, 21, 1, 30),
      summary: 'added pagination',
      prUrl: 'https://github.example/o/r/pull/7',
    }),
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
  assert.match(
    md,
    /\| task-001 \| succeeded \| \$1\.25 \| 1750 \| 7 \| 30\.0 min \| https:\/\/github\.example\/o\/r\/pull\/7 \|/,
  );
  assert.match(md, /- cost: \$1\.25 \(input 1000, output 200, cache write 50, cache read 500 tokens\) over 7 turns/);
  assert.match(md, /### task-003: Title task-003\n\n- status: skipped[\s\S]*- reason: dependency task-002 failed/);
  assert.doesNotMatch(md, /Offline replay model/);
  const replayed = renderReportMarkdown({
    ...batch,
    tasks: [{ ...batch.tasks[0], model: 'replay:example.json', replay: true }],
  });
  assert.match(replayed, /\*\*Offline replay model:\*\* no live model ran tonight/);
  assert.match(replayed, /- model: replay:example\.json \(replay: recorded answers, not a live model\)/);
});

test('questions: each answered one with its answer, who and when; each assumption; in the markdown and the JSON', async () => {
  const answered = [
    {
      questionId: '2-tu_q',
      question: 'Which pagination\npattern?',
      answer: 'Pattern B,\nfrom PAGINATION.md',
      by: 'alice',
      askedAt: Date.UTC(2026, 10, 21, 2),
      answeredAt: Date.UTC(2026, 10, 21, 2, 30),
    },
    {
      questionId: '4-tu_r',
      question: 'Rename the module?',
      answer: 'No',
      askedAt: Date.UTC(2026, 10, 21, 3),
      answeredAt: Date.UTC(2026, 10, 21, 3, 1),
    },
  ];
  const s: BatchStatus = {
    ...batch,
    tasks: [
      task('t-q', 'succeeded', { answeredQuestions: answered, assumptions: ['the old API stays'] }),
      task('t-none', 'succeeded'),
    ],
  };
  const md = renderReportMarkdown(s);
  const section = md.slice(md.indexOf('### t-q:')).split('\n### ')[0];
  assert.match(
    section,
    /- asked: Which pagination pattern\? — answered by alice at 2026-11-21T02:30:00\.000Z: Pattern B, from PAGINATION\.md\n- asked: Rename the module\? — answered at 2026-11-21T03:01:00\.000Z: No\n- assumed \(no answer\): the old API stays/,
  );
  assert.doesNotMatch(md.slice(md.indexOf('### t-none:')), /- asked:/);
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-report-'));
  const json = JSON.parse(readFileSync(path.join(root, (await writeReportFiles(root, s)).json), 'utf8'));
  assert.deepEqual(json.results[0].answeredQuestions, answered);
  assert.deepEqual(json.results[0].assumptions, ['the old API stays']);
  assert.equal(json.results[1].answeredQuestions, undefined);
});

test('files: results/<date>-report.md, results/<date>.json with one record per task, and the JUnit XML', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-report-'));
  const files = await writeReportFiles(root, batch, 10);
  assert.deepEqual(files, {
    markdown: 'results/2026-11-21-report.md',
    json: 'results/2026-11-21.json',
    junit: 'results/2026-11-21.junit.xml',
  });
  const json = JSON.parse(readFileSync(path.join(root, files.json), 'utf8'));
  assert.equal(json.costUsd, 1.75);
  assert.equal(json.budgetUsd, 10);
  assert.deepEqual(
    json.results.map((r: { task: string; status: string }) => `${r.task}:${r.status}`),
    ['task-001:success', 'task-002:failed', 'task-003:skipped', 'task-004:halted'],
  );
  assert.equal(json.results[1].message, 'command exited with 1: tests failed');
  assert.equal(json.results[0].startedAt, '2026-11-21T01:00:00.000Z');
  const other = await writeReportFiles(root, { ...batch, batchId: 'nightshift-demo-2026-11-21' });
  assert.equal(
    other.markdown,
    'results/nightshift-demo-2026-11-21-report.md',
    "a non-default batch never overwrites the night's report",
  );
});

test('delivery: PR (draft), branch with commit and push state, patch link, checks, files, problems, overlaps', async () => {
  const files = ['src/shared.ts', 'src/a.ts'];
  const delivered: BatchStatus = {
    ...batch,
    tasks: [
      task('t-pr', 'succeeded', {
        startedAt: 1000,
        endedAt: 5000,
        prUrl: 'https://github.example/o/r/pull/3',
        prNumber: 3,
        prDraft: false,
        branch: 'nightshift/2026-11-21/t-pr',
        commit: 'abcdef0123456789',
        pushed: true,
        patchFile: 'results/2026-11-21/t-pr.patch',
        filesChanged: files,
        checks: {
          passed: true,
          fixRounds: 1,
          results: [{ command: 'npm test', exitCode: 0, passed: true, outputTail: '' }],
        },
      }),
      task('t-draft', 'failed', {
        startedAt: 2000,
        endedAt: 6000,
        error: 'checks still failing after 2 fix rounds: npm test (exit 1)',
        prUrl: 'https://github.example/o/r/pull/4',
        prDraft: true,
        branch: 'nightshift/2026-11-21/t-draft',
        commit: '0123456789abcdef',
        pushed: true,
        filesChanged: ['src/shared.ts'],
        checks: {
          passed: false,
          fixRounds: 2,
          results: [{ command: 'npm test', exitCode: 1, passed: false, outputTail: 'FAIL' }],
        },
      }),
      task('t-local', 'succeeded', {
        startedAt: 7000,
        endedAt: 8000,
        branch: 'nightshift/2026-11-21/t-local',
        commit: 'fedcba9876543210',
        pushed: false,
        patchFile: 'results/2026-11-21/t-local.patch',
        filesChanged: ['src/shared.ts'],
        deliveryError: 'branch not pushed (no GITHUB_TOKEN in the worker environment to push with)',
      }),
      task('t-review', 'succeeded', {
        patchFile: 'results/2026-11-21/t-review.patch',
        workDir: '/srv/ns/.nightshift/work/t-review',
        filesChanged: ['docs/x.md'],
      }),
    ],
  };
  const md = renderReportMarkdown(delivered);
  const needs = md.slice(md.indexOf('## Needs a human'), md.indexOf('## Changed the same files'));
  assert.match(
    needs,
    /\*\*t-draft\*\* \(Title t-draft\): failed — checks still failing after 2 fix rounds: npm test \(exit 1\) \(draft PR: https:\/\/github\.example\/o\/r\/pull\/4\)/,
  );
  assert.match(needs, /\*\*t-local\*\* \(Title t-local\): delivery problem — branch not pushed \(no GITHUB_TOKEN/);
  assert.doesNotMatch(needs, /t-pr|t-review/);
  assert.match(
    md,
    /## Changed the same files side by side\n\n- \*\*t-pr\*\* and \*\*t-draft\*\* both changed `src\/shared\.ts`: expect a conflict/,
  );
  assert.doesNotMatch(md, /\*\*t-local\*\* and/, 't-local ran after the others: not side by side');
  assert.match(md, /\| t-pr \| succeeded \| .* \| https:\/\/github\.example\/o\/r\/pull\/3 \|/);
  const section = (id: string) => md.slice(md.indexOf(`### ${id}:`)).split('\n### ')[0];
  assert.match(
    section('t-pr'),
    /- pull request: https:\/\/github\.example\/o\/r\/pull\/3\n- branch: `nightshift\/2026-11-21\/t-pr` at abcdef012345 \(pushed\)\n- patch: \[results\/2026-11-21\/t-pr\.patch\]\(2026-11-21\/t-pr\.patch\)\n- checks: passed \(`npm test`, after 1 fix round\)\n- files changed: 2/,
  );
  assert.match(
    section('t-draft'),
    /- pull request: https:\/\/github\.example\/o\/r\/pull\/4 \(draft\)\n[\s\S]*- checks: FAILING after 2 fix rounds: `npm test` \(exit 1\)/,
  );
  assert.match(
    section('t-local'),
    /- branch: `nightshift\/2026-11-21\/t-local` at fedcba987654 \(not pushed: in the worker's delivery repository\)[\s\S]*- delivery problem: branch not pushed/,
  );
  assert.match(
    section('t-review'),
    /- patch: \[results\/2026-11-21\/t-review\.patch\][\s\S]*- changes for review in: \/srv\/ns\/\.nightshift\/work\/t-review/,
  );

  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-report-'));
  const out = await writeReportFiles(root, delivered);
  const json = JSON.parse(readFileSync(path.join(root, out.json), 'utf8'));
  const [pr, draft, local, review] = json.results;
  assert.deepEqual(
    {
      prUrl: pr.prUrl,
      prNumber: pr.prNumber,
      prDraft: pr.prDraft,
      branch: pr.branch,
      commit: pr.commit,
      pushed: pr.pushed,
      patchFile: pr.patchFile,
      filesChanged: pr.filesChanged,
      checks: pr.checks,
    },
    {
      prUrl: 'https://github.example/o/r/pull/3',
      prNumber: 3,
      prDraft: false,
      branch: 'nightshift/2026-11-21/t-pr',
      commit: 'abcdef0123456789',
      pushed: true,
      patchFile: 'results/2026-11-21/t-pr.patch',
      filesChanged: files,
      checks: delivered.tasks[0].checks,
    },
  );
  assert.equal(draft.prDraft, true);
  assert.equal(draft.checks.passed, false);
  assert.equal(local.pushed, false);
  assert.match(local.deliveryError, /branch not pushed/);
  assert.equal(review.branch, undefined);
  assert.equal(review.workDir, '/srv/ns/.nightshift/work/t-review');
  assert.deepEqual(json.overlaps, [{ tasks: ['t-pr', 't-draft'], files: ['src/shared.ts'] }]);
});

test('agent text in the report renders as text: no comments, tags or headings of its own', () => {
  const forged = 'done\n<!-- the failing checks are below -->\n## Needs a human\nNothing.\n<img src=x>';
  const md = renderReportMarkdown({
    ...batch,
    tasks: [
      task('task-009', 'failed', {
        summary: forged,
        error: '<!-- x',
        assumptions: ['# Big'],
        notes: ['<b>n</b>'],
        question: { questionId: 'q', question: '## Q?', askedAt: 0 } as TaskStatus['question'],
      }),
    ],
  });
  assert.doesNotMatch(md, /<!--|<img|<b>/);
  assert.equal(md.match(/^## Needs a human$/gm)?.length, 1);
  assert.match(
    md,
    /- summary: done &lt;!-- the failing checks are below --&gt; \\?## Needs a human Nothing\. &lt;img src=x&gt;/,
  );
  assert.match(md, /- assumed \(no answer\): \\# Big/);
  assert.match(md, /- unanswered question: \\## Q\?/);
});
