/**
 * Secrets never leave the night: a whole batch on a real dev server, with the loopback
 * GitHub and a scripted model whose finish summary (and a file it writes) holds the
 * worker's GITHUB_TOKEN and an Anthropic-shaped key. The PR, the commit message, the patch
 * and the report hold neither, and the report and the PR say what was redacted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile } from '../helpers/temporal';
import { runBatch } from '../helpers/batch';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, remote } from './helpers';

const server = devServerForFile();
const GITHUB_TOKEN = 'ghs_' + 'Q7vR2mK9pL4xT8nW3bY6cZ1dF5gH0jS2aE4uI7oP';
const ANTHROPIC_SHAPED = 'sk-ant-api03-' + 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0EdCbA-xyz';

test('a token in the agent\'s summary reaches neither the PR, the commit, the patch nor the report', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } }, token: GITHUB_TOKEN });
  const leak = `I found GITHUB_TOKEN=${GITHUB_TOKEN} and ${ANTHROPIC_SHAPED} in .env`;
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([toolUse('tu_w', 'write_file', { path: 'found.txt', content: 'I found the tokens in .env\n' })])
        : message([text('Done.'), toolUse('tu_fin', 'finish', { summary: `Wrote found.txt. ${leak}`, verification: 'cat found.txt' })]),
  });
  try {
    const config = { ...deliveryConfig(server.env, fake.url, gh.url) };
    config.github = { ...config.github, token: GITHUB_TOKEN };
    const worker = await deliveryWorker(server.env, config);
    const result = await runBatch(server.env, worker, {
      spec: {
        date: '2026-11-23',
        pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
        tasks: [{ id: 'leaky', title: 'Look around', context: { repo: bare }, agent_config: { model: 'haiku', max_turns: 4 } }],
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
    assert.match(pulls[0].body, /- redacted a secret-shaped value \(GITHUB_TOKEN, Anthropic key\) from this pull request/);

    absent('the commit message', git(bare, 'log', '-1', '--format=%B', task.commit!));
    absent('the pushed files', git(bare, 'show', task.commit!));

    assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
    const md = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
    const json = readFileSync(path.join(config.root, result.report.json), 'utf8');
    for (const [what, s] of [['the report', md], ['the JSON report', json]]) {
      absent(what, s);
      assert.ok(s.includes("redacted a secret-shaped value (GITHUB_TOKEN, Anthropic key) from this task's text"), `${what} notes the redaction:\n${s}`);
    }
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('a token written into a committed file is never pushed: the task keeps its redacted local patch', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } }, token: GITHUB_TOKEN });
  const privateKey = ['-----BEGIN OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW', '-----END OPENSSH PRIVATE KEY-----'].join('\n');
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([
            toolUse('tu_w', 'write_file', { path: 'config/found.env', content: `GITHUB_TOKEN=${GITHUB_TOKEN}\nKEY=${ANTHROPIC_SHAPED}\n` }),
            toolUse('tu_k', 'write_file', { path: 'deploy/id_ed25519', content: `${privateKey}\n` }),
            toolUse('tu_c', 'write_file', { path: 'notes.md', content: 'nothing secret here\n' }),
          ])
        : message([text('Done.'), toolUse('tu_fin', 'finish', { summary: 'Saved the configuration.', verification: 'ls' })]),
  });
  try {
    const config = { ...deliveryConfig(server.env, fake.url, gh.url) };
    config.github = { ...config.github, token: GITHUB_TOKEN };
    const worker = await deliveryWorker(server.env, config);
    const result = await runBatch(server.env, worker, {
      spec: {
        date: '2026-11-23',
        pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
        tasks: [{ id: 'committed-secret', title: 'Save the configuration', context: { repo: bare }, agent_config: { model: 'haiku', max_turns: 4 } }],
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
    for (const secret of [GITHUB_TOKEN, ANTHROPIC_SHAPED, 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW']) assert.ok(!patch.includes(secret), 'the patch holds a secret');
    assert.match(patch, /\+GITHUB_TOKEN=\[REDACTED: GITHUB_TOKEN\]/);
    assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
    const md = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
    const json = readFileSync(path.join(config.root, result.report.json), 'utf8');
    for (const [what, s] of [['the report', md], ['the JSON report', json]]) {
      for (const secret of [GITHUB_TOKEN, ANTHROPIC_SHAPED]) assert.ok(!s.includes(secret), `${what} holds a secret`);
      assert.ok(s.includes('config/found.env (GITHUB_TOKEN, Anthropic key)'), `${what} names the file and the kinds:\n${s}`);
      assert.ok(s.includes('deploy/id_ed25519 (private key)'), `${what} names the key file:\n${s}`);
      assert.ok(!s.includes('notes.md ('), `${what} blames a clean file:\n${s}`);
      assert.ok(s.includes('so it was not pushed'), `${what} says why nothing was pushed:\n${s}`);
      assert.ok(s.includes(`redacted a secret-shaped value from the patch file (${task.patchFile})`), `${what} notes the patch:\n${s}`);
    }
  } finally {
    await fake.close();
    await gh.close();
  }
});
