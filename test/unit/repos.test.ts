/**
 * The repos file and repo targets: expansion into one task per repo, enabled,
 * parallel / max_workers, dependencies between expanded tasks, the shipped examples, and
 * every mistake reported with file, line and field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatSpecIssue, SpecError } from '../../common/errors';
import { loadBatchSpec, parseBatchSpecIn } from '../../taskfile/load';
import { fanOutFull } from '../../workflows/night/fan-out';

const REPO = path.join(__dirname, '..', '..');
const MALFORMED = path.join(__dirname, '..', 'fixtures', 'malformed');

const EXPECTED: Record<string, string[]> = {
  '22-repo-targets.yaml': [
    '22-repo-targets.yaml:4 tasks[0].repo_names[1]: unknown repo "strngs" in 22-repos.yml; did you mean "strings"?',
    '22-repo-targets.yaml:6 tasks[1].group: no repo in group "prod" in 22-repos.yml (groups: all, production, staging)',
    '22-repo-targets.yaml:8 tasks[2].tag: no repo tagged "rust" in 22-repos.yml',
    '22-repo-targets.yaml:11 tasks[3].tag: give one of group, tag, repos, repo_names; this task has both "group" and "tag"',
    '22-repo-targets.yaml:15 tasks[4].context.repo: a task that runs on repos by "group" may not also name context.repo',
  ],
  '23-bad-repos-file.yaml': [
    '23-repos.yml:4 repos[1].name: duplicate repo name "strings" (first declared at 23-repos.yml:2)',
    '23-repos.yml:6 repos[2]: repo "nowhere" needs exactly one of path and url',
    '23-repos.yml:7 repos[3]: repo "both" needs exactly one of path and url',
    '23-repos.yml:12 repos[4].group: group "all" is reserved: a task with group: all runs on every repo',
    '23-repos.yml:15 repos[5].tag: unknown key "tag"; did you mean "tags"?',
  ],
  '24-target-without-repos-file.yaml': [
    '24-target-without-repos-file.yaml:3 tasks[0].group: "group" picks repos from a repos file: put repos.yaml beside the task file or set repos_file in the batch settings',
    '24-target-without-repos-file.yaml:5 tasks[1].repos_file: unknown key "repos_file"',
  ],
  '25-missing-repos-file.yaml': ['25-missing-repos-file.yaml:1 repos_file: no such repos file: no-such-repos.yml'],
};

for (const [file, expected] of Object.entries(EXPECTED)) {
  test(`malformed: ${file}`, async () => {
    await assert.rejects(loadBatchSpec(file, MALFORMED), (err: unknown) => {
      assert.ok(err instanceof SpecError, `expected SpecError, got ${String(err)}`);
      assert.deepEqual(err.issues.map(formatSpecIssue), expected);
      return true;
    });
  });
}

function night(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-repos-'));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), text);
  }
  return root;
}

const REPOS = [
  'repos:',
  '  - { name: api, path: ../repos/api, group: production, tags: [python] }',
  '  - { name: web, path: ../repos/web, group: production, tags: [javascript] }',
  '  - { name: cli, url: "https://example.invalid/cli.git", group: staging, tags: [python] }',
  '',
].join('\n');

test('a task expands into one task per repo, with the repo, its name and the fan-out bound', async () => {
  const root = night({
    'tasks/repos.yaml': REPOS,
    'tasks/night.yaml': [
      'repos_file: repos.yaml',
      'max_workers: 2',
      'tasks:',
      '  - { id: readme, group: all, simple_mode: true }',
      '  - { id: review, tag: python, parallel: false }',
      '  - { id: summary, repo_names: [web], depends_on: readme }',
      '  - { id: report, depends_on: [readme, review] }',
      '  - { id: off, group: all, enabled: false }',
      '  - { id: after-off, depends_on: off, command: "echo ok" }',
      '  - { id: by-path, repos: [/srv/checkouts/tools, ../elsewhere/site.git] }',
      '',
    ].join('\n'),
  });
  const spec = await loadBatchSpec('tasks/night.yaml', root);
  const byId = new Map(spec.tasks.map((t) => [t.id, t]));
  assert.deepEqual(
    spec.tasks.map((t) => t.id),
    [
      'readme@api',
      'readme@web',
      'readme@cli',
      'review@api',
      'review@cli',
      'summary@web',
      'report',
      'after-off',
      'by-path@tools',
      'by-path@site',
    ],
  );
  // Paths in the repos file are relative to it; they come back relative to NIGHTSHIFT_ROOT.
  assert.equal(byId.get('readme@api')!.repo, 'repos/api');
  assert.equal(byId.get('readme@cli')!.repo, 'https://example.invalid/cli.git');
  assert.equal(byId.get('readme@web')!.repoName, 'web');
  assert.equal(byId.get('readme@web')!.title, 'readme · web');
  assert.equal(byId.get('readme@web')!.simpleMode, true);
  assert.equal(byId.get('review@api')!.simpleMode, false);
  assert.deepEqual(byId.get('readme@api')!.fanOut, { of: 'readme', maxWorkers: 2 });
  assert.deepEqual(byId.get('review@api')!.fanOut, { of: 'review', maxWorkers: 1 });
  // An expanded task waits for its own repo's copy; an unexpanded one for every copy.
  assert.deepEqual(byId.get('summary@web')!.dependsOn, ['readme@web']);
  assert.deepEqual(byId.get('report')!.dependsOn, [
    'readme@api',
    'readme@web',
    'readme@cli',
    'review@api',
    'review@cli',
  ]);
  // A disabled task is left out, and so are the edges to it.
  assert.deepEqual(byId.get('after-off')!.dependsOn, []);
  assert.equal(byId.get('by-path@tools')!.repo, '/srv/checkouts/tools');
  assert.equal(byId.get('by-path@site')!.repo, '../elsewhere/site.git');

  const running = new Set(['readme@api', 'readme@web']);
  assert.equal(fanOutFull(byId.get('readme@cli')!, running, byId), true);
  assert.equal(fanOutFull(byId.get('review@api')!, running, byId), false);
  assert.equal(fanOutFull(byId.get('report')!, running, byId), false);
});

test('inline workflow input may name a repos file relative to NIGHTSHIFT_ROOT', async () => {
  const root = night({ 'repos.yaml': REPOS.replace(/\.\.\/repos/g, 'repos') });
  const spec = await parseBatchSpecIn(
    { repos_file: 'repos.yaml', tasks: [{ id: 'fmt', group: 'production', command: 'true' }] },
    root,
  );
  assert.deepEqual(
    spec.tasks.map((t) => `${t.id} ${t.repo}`),
    ['fmt@api repos/api', 'fmt@web repos/web'],
  );
  await assert.rejects(
    parseBatchSpecIn({ repos_file: 'nope.yaml', tasks: [{ id: 'x', group: 'all' }] }, root),
    /spec repos_file: no such repos file: nope\.yaml/,
  );
});

test('the many-repos examples validate and expand over the sample repos file', async () => {
  const readmes = await loadBatchSpec('tasks/repos/overnight-readmes.yaml', REPO);
  assert.deepEqual(
    readmes.tasks.map((t) => t.id),
    ['readme@strings', 'readme@notes', 'readme@api'],
  );
  assert.ok(readmes.tasks.every((t) => t.simpleMode && t.fanOut?.maxWorkers === 5));
  assert.equal(readmes.tasks[0].repo, '.nightshift/demo/strings');
  const review = await loadBatchSpec('tasks/repos/review-by-tag.yaml', REPO);
  assert.deepEqual(
    review.tasks.map((t) => t.id),
    ['review@strings', 'review@api'],
  );
  assert.ok(review.tasks.every((t) => !t.simpleMode && t.fanOut?.maxWorkers === 2));
});
