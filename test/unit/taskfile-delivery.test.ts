/** The delivery fields of a task file: checks, fix_attempts, pull_request, review_first; defaults, inheritance, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSpecIssue, SpecError } from '../../common/errors';
import { parseBatchYaml } from '../../taskfile/load';

test('defaults: no checks, two fix rounds, stacked PRs without labels, not review-first', () => {
  const [t] = parseBatchYaml('tasks:\n  - id: a\n', 'n.yaml').tasks;
  assert.deepEqual(t.checks, []);
  assert.equal(t.fixAttempts, 2);
  assert.deepEqual(t.pullRequest, { repo: undefined, labels: [], reviewers: [], draft: false, target: 'stacked' });
  assert.equal(t.reviewFirst, false);
  assert.equal(t.onMergeConflict, 'fail');
});

test('on_merge_conflict: a batch setting a task may override; anything but fail or agent is an error at its line', () => {
  const [a, b] = parseBatchYaml(
    'on_merge_conflict: agent\ntasks:\n  - id: a\n  - id: b\n    on_merge_conflict: fail\n',
    'n.yaml',
  ).tasks;
  assert.equal(a.onMergeConflict, 'agent');
  assert.equal(b.onMergeConflict, 'fail');
  assert.throws(
    () =>
      parseBatchYaml(
        'tasks:\n  - id: a\n    on_merge_conflict: ours\n  - id: b\n    on_merge_conflicts: agent\n',
        'n.yaml',
      ),
    (err: SpecError) => {
      assert.deepEqual(err.issues.map(formatSpecIssue), [
        'n.yaml:3 tasks[0].on_merge_conflict: must be fail or agent',
        'n.yaml:5 tasks[1].on_merge_conflicts: unknown key "on_merge_conflicts"; did you mean "on_merge_conflict"?',
      ]);
      return true;
    },
  );
});

test('batch settings are inherited; a task overrides checks, fix_attempts and pull_request keys', () => {
  const text = [
    'checks: [npm test, npm run lint]',
    'fix_attempts: 1',
    'review_first: true',
    'pull_request:',
    '  repo: acme/widgets',
    '  labels: [nightshift]',
    '  target: base',
    'tasks:',
    '  - id: a',
    '  - id: b',
    '    checks: make check',
    '    fix_attempts: 0',
    '    pull_request: { reviewers: [alice], draft: true }',
    '',
  ].join('\n');
  const [a, b] = parseBatchYaml(text, 'n.yaml').tasks;
  assert.deepEqual(a.checks, ['npm test', 'npm run lint']);
  assert.equal(a.fixAttempts, 1);
  assert.deepEqual(a.pullRequest, {
    repo: 'acme/widgets',
    labels: ['nightshift'],
    reviewers: [],
    draft: false,
    target: 'base',
  });
  assert.equal(a.reviewFirst, true);
  assert.deepEqual(b.checks, ['make check']);
  assert.equal(b.fixAttempts, 0);
  assert.deepEqual(b.pullRequest, {
    repo: 'acme/widgets',
    labels: ['nightshift'],
    reviewers: ['alice'],
    draft: true,
    target: 'base',
  });
});

test('bad delivery fields: every problem with file, line and field', () => {
  const text = [
    'review_first: yes please',
    'tasks:',
    '  - id: a',
    '    fix_attempts: -1',
    '    checks: [""]',
    '    pull_request:',
    '      repo: widgets',
    '      target: sideways',
    '      reviewer: [bob]',
    '',
  ].join('\n');
  assert.throws(
    () => parseBatchYaml(text, 'n.yaml'),
    (err: SpecError) => {
      assert.deepEqual(err.issues.map(formatSpecIssue), [
        'n.yaml:1 review_first: must be true or false',
        'n.yaml:4 tasks[0].fix_attempts: must be 0 or more',
        'n.yaml:5 tasks[0].checks[0]: Too small: expected string to have >=1 characters',
        'n.yaml:7 tasks[0].pull_request.repo: must be a GitHub repository "owner/name"',
        'n.yaml:8 tasks[0].pull_request.target: must be stacked or base',
        'n.yaml:9 tasks[0].pull_request.reviewer: unknown key "reviewer"; did you mean "reviewers"?',
      ]);
      return true;
    },
  );
});
