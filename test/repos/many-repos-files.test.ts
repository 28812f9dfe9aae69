/**
 * The many-repos example files, copied verbatim from the original text (test/fixtures/seeds/004/config):
 * `overnight.json` and the format's `tasks.example.json`, `//` comments, `settings` block,
 * `skill`, `group: all`, tasks without IDs and all. With a repos file beside them they
 * validate, and overnight.json runs on three real repos, one model call per repo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { validateFile } from '../../client/commands/validate';
import { SpecError } from '../../common/errors';
import { TASK_QUEUE } from '../../contract';
import { loadBatchSpec } from '../../taskfile/load';
import type { BatchResult } from '../../contract';
import type { MessagesRequest } from '../../demo/messages-server';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { withModel } from '../agent/helpers';

const server = devServerForFile();
const REPO = path.join(__dirname, '..', '..');
/** The two JSON blocks of the many-repos example, byte for byte: comments, no IDs, settings block. */
const SEED_CONFIG = path.join(__dirname, '..', 'fixtures', 'seeds', '004', 'config');
const REPOS = ['alpha', 'beta', 'gamma'];

/** NIGHTSHIFT_ROOT with the many-repos example's config/ as written, three repos and config/repos.yaml naming them. */
function seedRoot(root: string): void {
  cpSync(SEED_CONFIG, path.join(root, 'config'), { recursive: true });
  for (const name of REPOS) {
    const dir = path.join(root, 'checkouts', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'README.md'), `# ${name}\n\nold readme\n`);
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: dir });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'init');
  }
  writeFileSync(
    path.join(root, 'config', 'repos.yaml'),
    'repos:\n' + REPOS.map((n) => `  - { name: ${n}, path: ../checkouts/${n} }\n`).join(''),
  );
  mkdirSync(path.join(root, 'skills'));
  copyFileSync(path.join(REPO, 'skills', 'readme-generator.md'), path.join(root, 'skills', 'readme-generator.md'));
}

test('overnight.json and tasks.example.json validate with a repos file beside them', async () => {
  const { root } = testConfig(server.env);
  seedRoot(root);
  const config = { ...testConfig(server.env, root) };

  const overnight = await validateFile(config, 'config/overnight.json');
  assert.equal(overnight.spec.description, 'Overnight documentation update');
  assert.deepEqual(
    overnight.spec.tasks.map((t) => t.id),
    REPOS.map((r) => `update-readmes@${r}`).concat(REPOS.map((r) => `update-project-md@${r}`)),
  );
  for (const t of overnight.spec.tasks) {
    assert.equal(t.simpleMode, true);
    assert.equal(t.fanOut?.maxWorkers, 5);
    assert.deepEqual(t.skills, [t.id.startsWith('update-readmes') ? 'readme-generator' : 'repo-summarizer']);
    assert.equal(t.repo, `checkouts/${t.repoName}`);
  }
  assert.deepEqual(overnight.spec.tasks.map((t) => t.title).slice(0, 1), ['Update READMEs · alpha']);
  // log_file is written by the workers (test/engine/night-log.test.ts): nothing to warn about.
  assert.equal(overnight.spec.logFile, '~/.orchestrator/logs/overnight.log');
  assert.ok(!overnight.warnings.some((w) => w.path === 'log_file'), JSON.stringify(overnight.warnings));
  assert.ok(overnight.warnings.some((w) => w.message.includes('no skill "repo-summarizer"')));
  assert.ok(!overnight.warnings.some((w) => w.message.includes('no skill "readme-generator"')));

  const example = await validateFile(config, 'config/tasks.example.json');
  assert.equal(example.spec.description, 'What this batch does');
  assert.deepEqual(
    example.spec.tasks.map((t) => t.id),
    REPOS.map((r) => `task-description@${r}`),
  );
  assert.deepEqual(example.spec.tasks[0].skills, ['skill-name']);
});

test('many-repos files: a missing repos file, an unnamed task and a setting given twice are errors with lines', async () => {
  const { root } = testConfig(server.env);
  cpSync(SEED_CONFIG, path.join(root, 'config'), { recursive: true });
  await assert.rejects(loadBatchSpec('config/overnight.json', root), (err: SpecError) => {
    assert.deepEqual(
      err.issues.map((i) => `${i.line} ${i.path}`),
      ['4 tasks[0].group', '5 tasks[1].group'],
    );
    assert.match(err.issues[0].message, /put repos\.yaml beside the task file or set repos_file/);
    return true;
  });
  writeFileSync(
    path.join(root, 'config', 'odd.json'),
    '{\n  "max_workers": 2, // here\n  "tasks": [\n    {"skill": "x", "command": "true"}\n  ],\n  "settings": {"max_workers": 3}\n}\n',
  );
  await assert.rejects(loadBatchSpec('config/odd.json', root), (err: SpecError) => {
    assert.deepEqual(
      err.issues.map((i) => `${i.line} ${i.path}: ${i.message}`),
      [
        '4 tasks[0].id: is required (or a name to make it from)',
        '6 settings.max_workers: "max_workers" is set both in settings and at the top of the file; keep one',
      ],
    );
    return true;
  });
});

/** Which repo a request is about: the task ID `<task>@<repo>` is in its system prompt. */
function repoOf(req: MessagesRequest): string {
  const system = JSON.stringify((req.body as { system?: unknown }).system ?? '');
  return REPOS.find((r) => system.includes(`@${r}`)) ?? 'unknown';
}

test('overnight.json runs on three repos: one model call per repo and task, files kept', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_turn, req) => {
      const repo = repoOf(req);
      const readme = JSON.stringify(req.body).includes('Update READMEs');
      const file = readme ? 'README.md' : 'PROJECT.md';
      return message(
        [
          toolUse(`tu_${repo}`, 'write_files', {
            files: [{ path: file, content: `# ${repo}\n\nrewritten ${file}\n` }],
            summary: `Wrote ${repo}'s ${file}`,
          }),
        ],
        {
          usage: { input_tokens: 1000, output_tokens: 100 },
        },
      );
    },
  });
  try {
    const { root } = testConfig(server.env);
    seedRoot(root);
    const config = withModel(testConfig(server.env, root), fake.url);
    const worker = await testWorker(server.env, config);
    const r = (await worker.runUntil(
      server.env.client.workflow.execute('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: uniqueBatchId('many-repos'),
        args: [{ tasksFile: 'config/overnight.json', date: '2026-11-21' }],
      }),
    )) as BatchResult;
    assert.deepEqual(
      r.tasks.map((t) => `${t.taskId}:${t.status}`).sort(),
      [...REPOS.map((n) => `update-project-md@${n}:succeeded`), ...REPOS.map((n) => `update-readmes@${n}:succeeded`)],
      JSON.stringify(r.tasks.map((t) => t.error)),
    );
    assert.equal(fake.requests.length, 6);
    assert.deepEqual(fake.requests.map(repoOf).sort(), ['alpha', 'alpha', 'beta', 'beta', 'gamma', 'gamma']);
    // `skill` reached the prompt: the README task was told the readme-generator skill.
    const readmeCall = fake.requests.find((q) => JSON.stringify(q.body).includes('Update READMEs'))!;
    assert.match(JSON.stringify(readmeCall.body), /Skill: README generator/);
    for (const t of r.tasks) {
      const file = t.taskId.startsWith('update-readmes') ? 'README.md' : 'PROJECT.md';
      assert.equal(readFileSync(path.join(t.workDir!, file), 'utf8'), `# ${t.repo}\n\nrewritten ${file}\n`);
    }
  } finally {
    await fake.close();
  }
});
