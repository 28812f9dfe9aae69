/**
 * Secrets never leave the night: a whole batch on a real dev server, with the loopback
 * GitHub and a scripted model whose finish summary (and a file it writes) holds the
 * worker's GITHUB_TOKEN and an Anthropic-shaped key. The PR, the commit message, the patch
 * and the report hold neither, and the report and the PR say what was redacted. A secret
 * written into a committed file is never pushed, nor is a dependent task's branch that
 * carries it in its history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile } from '../helpers/temporal';
import { runBatch } from '../helpers/batch';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, remote, taskOf, writesThenFinishes } from './helpers';

const server = devServerForFile();
const GITHUB_TOKEN = 'ghs_' + 'Q7vR2mK9pL4xT8nW3bY6cZ1dF5gH0jS2aE4uI7oP';
const ANTHROPIC_SHAPED = 'sk-ant-api03-' + 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0EdCbA-xyz';

test("a token in the agent's summary reaches neither the PR, the commit, the patch nor the report", async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } }, token: GITHUB_TOKEN });
  const leak = `I found GITHUB_TOKEN=${GITHUB_TOKEN} and ${ANTHROPIC_SHAPED} in .env`;
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([toolUse('tu_w', 'write_file', { path: 'found.txt', content: 'I found the tokens in .env\n' })])
        : message([
            text('Done.'),
            toolUse('tu_fin', 'finish', { summary: `Wrote found.txt. ${leak}`, verification: 'cat found.txt' }),
          ]),
  });
  try {
    const config = { ...deliveryConfig(server.env, fake.url, gh.url) };
    config.github = { ...config.github, token: GITHUB_TOKEN };
    const worker = await deliveryWorker(server.env, config);
    const result = await runBatch(server.env, worker, {
      spec: {
        date: '2026-11-23',
        pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
        tasks: [
          {
            id: 'leaky',
            title: 'Look around',
            context: { repo: bare },
            agent_config: { model: 'haiku', max_turns: 4 },
          },
        ],
      },
    });
    const task = result.tasks[0];
    assert.equal(task.status, 'succeeded', task.error);
    const secrets = [GITHUB_TOKEN, ANTHROPIC_SHAPED];
    const absent = (what: string, s: string) => {
      for (const secret of secrets) assert.ok(!s.includes(secret), `${what} holds ${secret.slice(0, 8)}…:\n${s}`);
    };

    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 1);
    absent('the PR body', pulls[0].body);
    absent('the PR title', pulls[0].title);
    assert.match(pulls[0].body, /\[REDACTED: GITHUB_TOKEN\] and \[REDACTED: Anthropic key\]/);
    assert.match(
      pulls[0].body,
      /- redacted a secret-shaped value \(GITHUB_TOKEN, Anthropic key\) from this pull request/,
    );

    absent('the commit message', git(bare, 'log', '-1', '--format=%B', task.commit!));
    absent('the pushed files', git(bare, 'show', task.commit!));

    assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
    const md = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
    const json = readFileSync(path.join(config.root, result.report.json), 'utf8');
    for (const [what, s] of [
      ['the report', md],
      ['the JSON report', json],
    ]) {
      absent(what, s);
      assert.ok(
        s.includes("redacted a secret-shaped value (GITHUB_TOKEN, Anthropic key) from this task's text"),
        `${what} notes the redaction:\n${s}`,
      );
    }
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('a token written into a committed file is never pushed: the task keeps its redacted local patch', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } }, token: GITHUB_TOKEN });
  const privateKey = [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
    '-----END OPENSSH PRIVATE KEY-----',
  ].join('\n');
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([
            toolUse('tu_w', 'write_file', {
              path: 'config/found.env',
              content: `GITHUB_TOKEN=${GITHUB_TOKEN}\nKEY=${ANTHROPIC_SHAPED}\n`,
            }),
            toolUse('tu_k', 'write_file', { path: 'deploy/id_ed25519', content: `${privateKey}\n` }),
            toolUse('tu_c', 'write_file', { path: 'notes.md', content: 'nothing secret here\n' }),
          ])
        : message([
            text('Done.'),
            toolUse('tu_fin', 'finish', { summary: 'Saved the configuration.', verification: 'ls' }),
          ]),
  });
  try {
    const config = { ...deliveryConfig(server.env, fake.url, gh.url) };
    config.github = { ...config.github, token: GITHUB_TOKEN };
    const worker = await deliveryWorker(server.env, config);
    const result = await runBatch(server.env, worker, {
      spec: {
        date: '2026-11-23',
        pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
        tasks: [
          {
            id: 'committed-secret',
            title: 'Save the configuration',
            context: { repo: bare },
            agent_config: { model: 'haiku', max_turns: 4 },
          },
        ],
      },
    });
    const task = result.tasks[0];
    assert.equal(task.status, 'succeeded', task.error);
    assert.equal(task.pushed, false);
    assert.ok(task.commit, 'the commit stays in the worker’s delivery repository');
    // Nothing left the machine: no branch on the remote, no pull request.
    assert.equal(git(bare, 'for-each-ref', 'refs/heads/nightshift'), '');
    assert.equal(gh.pulls(GITHUB_REPO).length, 0);

    const patch = readFileSync(path.join(config.root, task.patchFile!), 'utf8');
    for (const secret of [
      GITHUB_TOKEN,
      ANTHROPIC_SHAPED,
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
    ])
      assert.ok(!patch.includes(secret), 'the patch holds a secret');
    assert.match(patch, /\+GITHUB_TOKEN=\[REDACTED: GITHUB_TOKEN\]/);
    assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
    const md = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
    const json = readFileSync(path.join(config.root, result.report.json), 'utf8');
    for (const [what, s] of [
      ['the report', md],
      ['the JSON report', json],
    ]) {
      for (const secret of [GITHUB_TOKEN, ANTHROPIC_SHAPED]) assert.ok(!s.includes(secret), `${what} holds a secret`);
      assert.ok(
        s.includes('config/found.env (GITHUB_TOKEN, Anthropic key)'),
        `${what} names the file and the kinds:\n${s}`,
      );
      assert.ok(s.includes('deploy/id_ed25519 (private key)'), `${what} names the key file:\n${s}`);
      assert.ok(!s.includes('notes.md ('), `${what} blames a clean file:\n${s}`);
      assert.ok(s.includes('the worker refused to push it'), `${what} says why nothing was pushed:\n${s}`);
      assert.ok(
        s.includes(`redacted a secret-shaped value from the patch file (${task.patchFile})`),
        `${what} notes the patch:\n${s}`,
      );
    }
  } finally {
    await fake.close();
    await gh.close();
  }
});

test("a committed secret, the worker's own value or a token shape, stays on the machine, and so does a dependent's branch over it", async () => {
  const bare = remote();
  // The worker's token in no known shape: only its value can give it away.
  const workerToken = 'nightshift-installation-credential-' + 'Lq83Zt0Wm5';
  const shaped = 'ghp_' + 'Zq1Xw2Ce3Vr4Bt5Ny6Mu7Ki8Lo9Pa0Sd1Fg2';
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } }, token: workerToken });
  const files: Record<string, Record<string, string>> = {
    'token-value': { 'config/settings.json': `{ "token": "${workerToken}" }\n` },
    'token-shape': { 'src/client.ts': `export const auth = '${shaped}';\n` },
    'on-top': { 'docs/usage.md': 'How to use it.\n' },
    clean: { 'docs/clean.md': 'Nothing secret.\n' },
  };
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => writesThenFinishes(files[taskOf(req)], turn, `${taskOf(req)} done`),
  });
  const objectsBefore = execFileSync('git', ['--git-dir', bare, 'cat-file', '--batch-all-objects', '--batch-check'], {
    encoding: 'utf8',
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    config.github = { ...config.github, token: workerToken };
    const worker = await deliveryWorker(server.env, config);
    const task = (id: string, dependsOn: string[] = []) => ({
      id,
      title: `Task ${id}`,
      depends_on: dependsOn,
      context: { repo: bare },
      agent_config: { model: 'haiku', max_turns: 4 },
    });
    const result = await runBatch(server.env, worker, {
      spec: {
        date: '2026-11-24',
        pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
        tasks: [task('token-value'), task('token-shape'), task('on-top', ['token-value']), task('clean')],
      },
    });
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    for (const t of result.tasks) assert.equal(t.status, 'succeeded', `${t.taskId}: ${t.error}`);

    // The clean task shows the path pushes and opens PRs, so what follows is the scan's doing.
    assert.equal(by.clean.pushed, true, by.clean.deliveryError);
    assert.deepEqual(
      gh.pulls(GITHUB_REPO).map((p) => p.head.ref),
      [by.clean.branch],
    );
    assert.equal(
      git(bare, 'for-each-ref', '--format=%(refname)', 'refs/heads/nightshift'),
      `refs/heads/${by.clean.branch}`,
    );
    const cleanObjects = execFileSync('git', ['--git-dir', bare, 'rev-list', '--objects', by.clean.commit!, '^main'], {
      encoding: 'utf8',
    }).split('\n').length;
    const objectsAfter = execFileSync('git', ['--git-dir', bare, 'cat-file', '--batch-all-objects', '--batch-check'], {
      encoding: 'utf8',
    });
    assert.equal(
      objectsAfter.trim().split('\n').length,
      objectsBefore.trim().split('\n').length + cleanObjects - 1,
      'the remote received the clean task’s objects and nothing else',
    );

    const refused = {
      'token-value': 'config/settings.json (GITHUB_TOKEN)',
      'token-shape': 'src/client.ts (GitHub token)',
      'on-top': 'config/settings.json (GITHUB_TOKEN)',
    };
    for (const [id, names] of Object.entries(refused)) {
      const t = by[id];
      assert.equal(t.pushed, false, id);
      assert.ok(t.commit, `${id}: the commit stays in the worker's delivery repository`);
      assert.ok(
        t.deliveryError?.includes('the worker refused to push it') && t.deliveryError.includes(names),
        `${id}: ${t.deliveryError}`,
      );
    }
    assert.equal(
      by['on-top'].filesChanged?.join(),
      'docs/usage.md',
      "the dependent's own change is clean; the secret is in its dependency's commit",
    );

    const remoteObjects = execFileSync('git', ['--git-dir', bare, 'cat-file', '--batch-all-objects', '--batch'], {
      maxBuffer: 64 * 1024 * 1024,
    }).toString('latin1');
    assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
    const resultsDir = path.join(config.root, 'results');
    const stored = readdirSync(resultsDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map(
        (e) =>
          [
            path.join(e.parentPath ?? e.path, e.name),
            readFileSync(path.join(e.parentPath ?? e.path, e.name), 'latin1'),
          ] as const,
      );
    assert.ok(
      stored.some(([f]) => f.endsWith('token-value.patch')) && stored.some(([f]) => f.endsWith('.md')),
      stored.map(([f]) => f).join(', '),
    );
    for (const secret of [workerToken, shaped]) {
      assert.ok(!remoteObjects.includes(secret), 'an object on the remote holds a secret');
      assert.ok(!JSON.stringify(result).includes(secret), 'the batch result holds a secret');
      for (const [file, content] of stored) assert.ok(!content.includes(secret), `${file} holds a secret`);
    }
    const patch = readFileSync(path.join(config.root, by['token-value'].patchFile!), 'utf8');
    assert.match(patch, /\+\{ "token": "\[REDACTED: GITHUB_TOKEN\]" \}/);
    const md = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
    for (const [id, names] of Object.entries(refused))
      assert.ok(md.includes(id) && md.includes(names), `the report says why ${id} was not pushed:\n${md}`);
  } finally {
    await fake.close();
    await gh.close();
  }
});
