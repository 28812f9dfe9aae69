/**
 * A night across three real git repos, on a real dev server, with the real SDK talking to
 * a scripted Messages API: in simple mode (one call per repo that writes files) and in
 * agent mode (the tool loop). One repo's model call is refused; the other two finish with
 * their files kept, and results/<date>.json holds one record per repo, the failure included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';
import { badRequest, message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import type { MessagesRequest } from '../../demo/messages-server';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { withModel } from '../agent/helpers';
import { deliveryBranch } from '../../workflows/branches';

const server = devServerForFile();
const REPOS = ['alpha', 'beta', 'gamma'];

/** Three repos with one commit each, and a repos file naming them. */
function makeRepos(root: string): void {
  for (const name of REPOS) {
    const dir = path.join(root, 'checkouts', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'README.md'), `# ${name}\n\nold readme\n`);
    writeFileSync(path.join(dir, 'index.js'), `module.exports = '${name}';\n`);
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: dir });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'init');
  }
  mkdirSync(path.join(root, 'tasks'), { recursive: true });
  writeFileSync(
    path.join(root, 'tasks', 'repos.yaml'),
    'repos:\n' +
      REPOS.map(
        (n, i) =>
          `  - { name: ${n}, path: ../checkouts/${n}, group: all-js, tags: [${i === 1 ? 'python' : 'javascript'}, js] }\n`,
      ).join(''),
  );
}

/** Which repo a request is about: the task ID `<task>@<repo>` is in its system prompt. */
function repoOf(req: MessagesRequest): string {
  const system = JSON.stringify((req.body as { system?: unknown }).system ?? '');
  return REPOS.find((r) => system.includes(`@${r}`)) ?? 'unknown';
}

async function runNight(root: string, fakeUrl: string, file: string): Promise<BatchResult> {
  const config = withModel(testConfig(server.env, root), fakeUrl);
  const worker = await testWorker(server.env, config);
  const id = uniqueBatchId();
  return worker.runUntil(
    server.env.client.workflow.execute('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ tasksFile: file, date: '2026-11-21' }],
    }),
  );
}

function recordsOf(
  root: string,
  r: BatchResult,
): { task: string; repo: string; status: string; message: string; workDir?: string }[] {
  assert.ok(r.report && 'json' in r.report, JSON.stringify(r.report));
  return JSON.parse(readFileSync(path.join(root, r.report.json), 'utf8')).results;
}

test('simple mode: one model call per repo writes README.md; a refused repo fails alone', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_turn, req) => {
      const repo = repoOf(req);
      if (repo === 'gamma') return badRequest('this repo is refused');
      return message(
        [
          toolUse(`tu_${repo}`, 'write_files', {
            files: [
              { path: 'README.md', content: `# ${repo}\n\nregenerated\n` },
              { path: 'docs/USAGE.md', content: `use ${repo}\n` },
            ],
            summary: `Refreshed ${repo}'s README`,
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
    makeRepos(root);
    writeFileSync(
      path.join(root, 'tasks', 'readmes.yaml'),
      [
        'repos_file: repos.yaml',
        'simple_mode: true',
        'model_api: messages',
        'max_workers: 2',
        'tasks:',
        '  - id: readme',
        '    title: Update README',
        '    group: all',
        '    agent_config: { model: haiku }',
        '',
      ].join('\n'),
    );
    const r = await runNight(root, fake.url, 'tasks/readmes.yaml');
    assert.deepEqual(
      r.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['readme@alpha:succeeded', 'readme@beta:succeeded', 'readme@gamma:failed'],
    );
    // Exactly one model call per repo: no tool loop, and the refused one is not retried.
    assert.deepEqual(fake.requests.map(repoOf).sort(), ['alpha', 'beta', 'gamma']);
    const body = fake.requests[0].body as { tool_choice?: unknown; tools?: { name: string }[] };
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'write_files' });
    assert.deepEqual(
      body.tools?.map((t) => t.name),
      ['write_files'],
    );
    assert.match(JSON.stringify(fake.requests[0].body), /old readme/, 'the model saw the repo');

    for (const name of ['alpha', 'beta']) {
      const t = r.tasks.find((x) => x.taskId === `readme@${name}`)!;
      assert.equal(t.repo, name);
      assert.equal(t.turns, 1);
      assert.equal(t.costUsd, 0.00015); // haiku 5.5: 1000 × $0.10 + 100 × $0.50 per Mtok
      assert.match(t.summary ?? '', new RegExp(`Refreshed ${name}'s README \\(wrote README\\.md, docs/USAGE\\.md\\)`));
      assert.equal(readFileSync(path.join(t.workDir!, 'README.md'), 'utf8'), `# ${name}\n\nregenerated\n`);
      assert.equal(readFileSync(path.join(t.workDir!, 'index.js'), 'utf8'), `module.exports = '${name}';\n`);
      // Delivered like an agent task: the branch is on the repo's remote with the new README.
      assert.equal(t.branch, deliveryBranch(r.batchId, '2026-11-21', `readme@${name}`), t.deliveryError);
      assert.equal(t.pushed, true, t.deliveryError);
      const onRemote = execFileSync('git', ['show', `${t.branch}:README.md`], {
        cwd: path.join(root, 'checkouts', name),
        encoding: 'utf8',
      });
      assert.equal(onRemote, `# ${name}\n\nregenerated\n`);
    }
    const gamma = r.tasks.find((x) => x.taskId === 'readme@gamma')!;
    assert.match(gamma.error ?? '', /HTTP 400.*this repo is refused/);

    const records = recordsOf(root, r);
    assert.deepEqual(
      records.map((x) => `${x.task} ${x.repo} ${x.status}`),
      ['readme@alpha alpha success', 'readme@beta beta success', 'readme@gamma gamma failed'],
    );
    assert.match(records[2].message, /this repo is refused/);
  } finally {
    await fake.close();
  }
});

test('agent mode: the tool loop per repo by tag; a refused repo fails alone', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      const repo = repoOf(req);
      if (repo === 'gamma') return badRequest('this repo is refused');
      if (turn === 1)
        return message([
          text('Reviewing.'),
          toolUse(`tu_${repo}_1`, 'bash', { command: 'node -e "console.log(require(\'./index.js\'))" > REVIEW.md' }),
        ]);
      return message([
        toolUse(`tu_${repo}_2`, 'finish', { summary: `Reviewed ${repo}`, verification: 'ran index.js' }),
      ]);
    },
  });
  try {
    const { root } = testConfig(server.env);
    makeRepos(root);
    writeFileSync(
      path.join(root, 'tasks', 'review.yaml'),
      ['repos_file: repos.yaml', 'tasks:', '  - id: review', '    tag: js', '    parallel: false', ''].join('\n'),
    );
    const r = await runNight(root, fake.url, 'tasks/review.yaml');
    assert.deepEqual(
      r.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['review@alpha:succeeded', 'review@beta:succeeded', 'review@gamma:failed'],
    );
    for (const name of ['alpha', 'beta']) {
      const t = r.tasks.find((x) => x.taskId === `review@${name}`)!;
      assert.equal(t.turns, 2);
      assert.equal(readFileSync(path.join(t.workDir!, 'REVIEW.md'), 'utf8'), `${name}\n`);
    }
    // parallel: false: one repo at a time, so no two repos' tasks overlapped.
    const spans = REPOS.map((n) => r.tasks.find((x) => x.taskId === `review@${n}`)!)
      .map((t) => [t.startedAt!, t.endedAt!])
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      assert.ok(spans[i][0] >= spans[i - 1][1], 'tasks of one fan-out ran one at a time');
    const records = recordsOf(root, r);
    assert.deepEqual(
      records.map((x) => `${x.repo} ${x.status}`),
      ['alpha success', 'beta success', 'gamma failed'],
    );
  } finally {
    await fake.close();
  }
});
