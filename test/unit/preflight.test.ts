/**
 * Before the night: what cannot work is an error (exit 3), what is odd a warning, for the
 * seed files' habits (no repo, missing context and plan files, unknown skills); and the
 * report says where the work is when nothing was delivered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateFile } from '../../client/commands/validate';
import { formatSpecIssue, SpecError } from '../../common/errors';
import { renderReportMarkdown } from '../../activities/night/report';
import type { NightshiftConfig } from '../../common/config';
import { makeRepo } from '../sandbox/helpers';

function rootWith(yaml: string): { config: NightshiftConfig; file: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-preflight-'));
  mkdirSync(path.join(root, 'tasks'));
  mkdirSync(path.join(root, 'skills'));
  writeFileSync(path.join(root, 'skills', 'testing.md'), '# Testing\nRun the tests.\n');
  writeFileSync(path.join(root, 'tasks', 'night.yaml'), yaml);
  return { config: { root, store: { kind: 'file' } } as NightshiftConfig, file: 'tasks/night.yaml' };
}

test('warnings: an agent task with no repo, context and plan files not in the repo, an unknown skill', async () => {
  const { bare } = makeRepo();
  const { config, file } = rootWith(`tasks:
  - id: no-repo
    title: Works in an empty directory
    context:
      files: [docs/spec.md]
  - id: with-repo
    title: Reads files
    context:
      repo: ${bare}
      files: [README.md, docs/missing.md]
      plan_file: plans/p1.md
    skills_required: [testing, no-such-skill]
  - id: plain
    command: echo fine
`);
  const { warnings } = await validateFile(config, file);
  const lines = warnings.map(formatSpecIssue);
  assert.deepEqual(lines, [
    'tasks/night.yaml:2 no-repo: context.repo: no repository: the agent works in an empty directory and nothing is delivered (no branch, patch or PR); its files are kept under .nightshift/work/ and the report says where',
    'tasks/night.yaml:2 no-repo: context.files: docs/spec.md: there is no repository to read it from',
    `tasks/night.yaml:6 with-repo: context.files: docs/missing.md is not in ${bare}; the agent is told it is missing`,
    `tasks/night.yaml:6 with-repo: context.plan_file: plans/p1.md is not in ${bare}; the agent is told it is missing`,
    'tasks/night.yaml:6 with-repo: skills_required: no skill "no-such-skill" in skills/ or skills/learned/',
  ]);
});

test('errors: a local repo that does not exist, or is no git repository, fails validation (exit 3) before the night', async () => {
  const { config, file } = rootWith(`tasks:
  - id: gone
    context:
      repo: repos/not-there
  - id: plain-dir
    context:
      repo: tasks
`);
  await assert.rejects(validateFile(config, file), (err: unknown) => {
    assert.ok(err instanceof SpecError);
    assert.deepEqual(err.issues.map(formatSpecIssue), [
      `tasks/night.yaml:2 gone: context.repo: ${path.join(config.root, 'repos/not-there')} does not exist`,
      `tasks/night.yaml:5 plain-dir: context.repo: ${path.join(config.root, 'tasks')} is not a git repository`,
    ]);
    return true;
  });
});

test('the report says where the work is when nothing was delivered', () => {
  const md = renderReportMarkdown({
    batchId: 'nightshift-2026-11-21',
    date: '2026-11-21',
    state: 'completed',
    startedAt: 0,
    endedAt: 1,
    tasks: [
      {
        taskId: 'no-repo',
        title: 'No repo',
        workflowId: 'w/no-repo',
        status: 'succeeded',
        costUsd: 0,
        tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
        turns: 2,
        workDir: '/data/.nightshift/work/w_no-repo-abc',
      },
    ],
  });
  assert.match(md, /- nothing delivered; the work is in: \/data\/\.nightshift\/work\/w_no-repo-abc/);
});
