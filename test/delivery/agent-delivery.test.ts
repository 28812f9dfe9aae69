/**
 * An agent task's delivery on a real dev server: the commit made in the sandbox, pushed by
 * the worker to a bare repository and verified, one PR through the real Octokit against a
 * loopback GitHub; checks with a fix round; create_pr: false; review-first mode; a PR
 * create whose answer is lost is retried into the same single PR.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { answerTask, localUser } from '../../client/commands/questions';
import { devServerForFile } from '../helpers/temporal';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import type { TaskStatus } from '../../contract';
import { agentInput, agentSpec, runAgentTask, startAgentTask, taskResultOf } from '../agent/helpers';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, prSettings, remote, writesThenFinishes } from './helpers';
import { deliveryBranch } from '../../workflows/branches';

const server = devServerForFile();

test('commit in the sandbox, push from the worker, one PR with the task, summary, cost and labels', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([
            toolUse('tu_1', 'write_file', { path: 'src/greet.js', content: 'module.exports = () => "hi";\n' }),
            toolUse('tu_2', 'bash', { command: 'env > env.txt' }),
          ])
        : message([
            text('Done.'),
            toolUse('tu_fin', 'finish', { summary: 'Added src/greet.js', verification: 'node -e' }),
          ]),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const input = agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings() }));
    const { result } = await runAgentTask(server.env, worker, input);
    const BRANCH = deliveryBranch(input.batchId, '2026-11-21', 'agent-1');

    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.deliveryError, undefined);
    assert.equal(result.branch, BRANCH);
    assert.equal(result.pushed, true);
    assert.equal(
      git(bare, 'rev-parse', `refs/heads/${BRANCH}`),
      result.commit,
      'the remote ref is the delivered commit',
    );
    assert.equal(
      git(bare, 'rev-parse', `${result.commit}^`),
      git(bare, 'rev-parse', 'main'),
      'its parent is where the task started',
    );
    assert.equal(git(bare, 'show', `${result.commit}:src/greet.js`), 'module.exports = () => "hi";');
    assert.match(
      git(bare, 'log', '-1', '--format=%an <%ae>%n%B', result.commit!),
      /^nightshift <nightshift@localhost>\nnightshift: agent-1: Add a greeting module\n\nAdded src\/greet\.js/,
    );
    assert.deepEqual(result.filesChanged, ['env.txt', 'src/greet.js']);
    assert.doesNotMatch(
      git(bare, 'show', `${result.commit}:env.txt`),
      /ghs_test|GITHUB/,
      'the token never entered the sandbox',
    );

    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 1);
    assert.equal(result.prUrl, pulls[0].html_url);
    assert.equal(result.prNumber, 1);
    assert.equal(result.prDraft, false);
    assert.equal(pulls[0].head.ref, BRANCH);
    assert.equal(pulls[0].head.sha, result.commit);
    assert.equal(pulls[0].base.ref, 'main');
    assert.equal(pulls[0].title, 'Add a greeting module (nightshift agent-1)');
    assert.match(
      pulls[0].body,
      /No checks were configured[\s\S]*Write greet\.js and check it\.[\s\S]*\n> Added src\/greet\.js[\s\S]*· 2 turns/,
    );
    assert.deepEqual(
      pulls[0].labels.map((l) => l.name),
      ['nightshift'],
    );
    assert.deepEqual(
      pulls[0].requested_reviewers.map((r) => r.login),
      ['alice'],
    );

    assert.equal(result.patchFile, `results/${input.batchId}/agent-1.patch`);
    assert.match(
      readFileSync(path.join(config.root, result.patchFile), 'utf8'),
      /Subject: \[PATCH\] nightshift: agent-1: Add a greeting module[\s\S]*\+module\.exports = \(\) => "hi";/,
    );
    assert.ok(
      !existsSync(path.join(result.workDir!, '.nightshift-delivery.bundle')),
      'no delivery files left in the kept work',
    );
  } finally {
    await fake.close();
    await gh.close();
  }
});

test("checks fail, the agent reads why as finish's result, fixes it in a second round, checks pass", async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) return message([toolUse('tu_1', 'write_file', { path: 'answer.txt', content: '41\n' })]);
      if (turn === 2)
        return message([toolUse('tu_fin_2', 'finish', { summary: 'answer written', verification: 'looked at it' })]);
      if (turn === 3) return message([toolUse('tu_3', 'write_file', { path: 'answer.txt', content: '42\n' })]);
      return message([
        toolUse(`tu_fin_${turn}`, 'finish', { summary: 'answer fixed to 42', verification: 'grep -qx 42 answer.txt' }),
      ]);
    },
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const checks = [
      'test -f answer.txt',
      'grep -qx 42 answer.txt || { echo "answer.txt holds $(cat answer.txt), want 42"; exit 3; }',
    ];
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings(), checks })),
    );

    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.turns, 4);
    assert.deepEqual(result.checks?.passed, true);
    assert.equal(result.checks?.fixRounds, 1);
    assert.deepEqual(
      result.checks?.results.map((r) => [r.command, r.exitCode]),
      [
        [checks[0], 0],
        [checks[1], 0],
      ],
    );
    // The third request carries finish's result: the failing check and its output.
    const third = fake.requests[2].body.messages!;
    const finishResult = (
      third[third.length - 1].content as { type: string; tool_use_id: string; content: string; is_error?: boolean }[]
    )[0];
    assert.equal(finishResult.tool_use_id, 'tu_fin_2');
    assert.equal(finishResult.is_error, true);
    assert.match(
      finishResult.content,
      /acceptance checks failed[\s\S]*exit code: 3[\s\S]*answer\.txt holds 41, want 42/,
    );
    const [pr] = gh.pulls(GITHUB_REPO);
    assert.equal(pr.draft, false);
    assert.match(pr.body, /All checks passed after 1 fix round\./);
    assert.equal(git(bare, 'show', `${result.commit}:answer.txt`), '42');
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('checks still failing after fix_attempts: the task fails, the PR is a draft labelled as failing', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([toolUse('tu_1', 'write_file', { path: 'a.txt', content: 'a\n' })])
        : message([toolUse(`tu_fin_${turn}`, 'finish', { summary: 'tried', verification: 'none' })]),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(
        agentSpec({ repo: bare, createPr: true, pullRequest: prSettings(), checks: ['exit 1'], fixAttempts: 1 }),
      ),
    );
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'checks still failing after 1 fix round: exit 1 (exit 1)');
    assert.equal(result.turns, 3, 'finish, one fix round that finished again, then no more rounds');
    assert.equal(result.checks?.passed, false);
    const [pr] = gh.pulls(GITHUB_REPO);
    assert.equal(pr.draft, true);
    assert.equal(result.prDraft, true);
    assert.match(pr.title, /^\[checks failing\] /);
    assert.deepEqual(
      pr.labels.map((l) => l.name),
      ['nightshift', 'nightshift: checks failing'],
    );
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('create_pr: false pushes the branch and leaves a patch, opening no PR; review-first commits nothing', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({ byTurn: (turn) => writesThenFinishes({ 'notes.md': '# notes\n' }, turn) });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const [noPr, review] = await worker.runUntil(
      Promise.all(
        [
          agentSpec({ id: 'no-pr', repo: bare, createPr: false, pullRequest: prSettings() }),
          agentSpec({ id: 'review', repo: bare, createPr: true, reviewFirst: true, pullRequest: prSettings() }),
        ].map(async (t) => ({
          result: await taskResultOf(await startAgentTask(server.env, agentInput(t))),
        })),
      ),
    );
    assert.equal(noPr.result.status, 'succeeded', noPr.result.error);
    assert.equal(git(bare, 'rev-parse', `refs/heads/${noPr.result.branch}`), noPr.result.commit);
    assert.equal(noPr.result.prUrl, undefined);
    assert.ok(existsSync(path.join(config.root, noPr.result.patchFile!)));

    assert.equal(review.result.status, 'succeeded', review.result.error);
    assert.equal(review.result.branch, undefined);
    assert.equal(review.result.commit, undefined);
    assert.deepEqual(
      git(bare, 'for-each-ref', '--format=%(refname)', 'refs/heads/')
        .split('\n')
        .filter((r) => r.endsWith('/review')),
      [],
      'nothing reached the remote',
    );
    assert.match(readFileSync(path.join(config.root, review.result.patchFile!), 'utf8'), /\+# notes/);
    assert.equal(readFileSync(path.join(review.result.workDir!, 'notes.md'), 'utf8'), '# notes\n');
    assert.equal(gh.calls.length, 0, 'GitHub was never called');
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('activity retry: the create keeps failing after GitHub made the PR; the retried activity finds it, one PR', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  // Octokit's own retries (2) all get 502, the first after creating: the activity fails and Temporal retries it.
  gh.fault({ method: 'POST', path: /\/pulls$/, status: 502, apply: true });
  gh.fault({ method: 'POST', path: /\/pulls$/, status: 502, times: 2 });
  const fake = await startFakeAnthropic({ byTurn: (turn) => writesThenFinishes({ 'x.txt': 'x\n' }, turn) });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings() })),
    );
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.deliveryError, undefined);
    assert.equal(gh.pulls(GITHUB_REPO).length, 1);
    assert.equal(result.prNumber, 1);
    const creates = gh.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/pulls')).map((c) => c.status);
    assert.deepEqual(creates, [502, 502, 502]);
    assert.ok(
      gh.calls.some((c) => c.method === 'PATCH' && c.path.endsWith('/pulls/1')),
      'the retry found and updated it',
    );
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('a question answered with `nightshift answer` reaches the PR body with its answer, who answered and when', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([
            toolUse('tu_w', 'write_file', { path: 'list.ts', content: 'export const page = 1;\n' }),
            toolUse('tu_ask', 'ask_human', {
              question: 'Which pagination pattern should I follow?',
              assumption: 'the documented one',
            }),
          ])
        : message([
            toolUse(`tu_fin_${turn}`, 'finish', { summary: 'paginated with cursors', verification: 'read it back' }),
          ]),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const input = agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings() }));
    const result = await worker.runUntil(async () => {
      const handle = await startAgentTask(server.env, input);
      for (;;) {
        const s: TaskStatus = await handle.query('status');
        if (s.questions?.length) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const sent = await answerTask(
        server.env.client,
        'agent-1',
        'Cursor pagination, as in docs/PAGINATION.md',
        input.batchId,
        localUser({}),
      );
      assert.equal(sent.question, 'Which pagination pattern should I follow?');
      return await taskResultOf(handle);
    });
    assert.equal(result.status, 'succeeded', result.error);
    const [q] = result.answeredQuestions ?? [];
    assert.equal(result.answeredQuestions?.length, 1);
    assert.equal(q.questionId, '1-tu_ask');
    assert.equal(q.question, 'Which pagination pattern should I follow?');
    assert.equal(q.answer, 'Cursor pagination, as in docs/PAGINATION.md');
    assert.equal(q.by, os.userInfo().username);
    assert.ok(q.answeredAt >= q.askedAt);
    assert.equal(result.assumptions, undefined, 'answered: nothing assumed');
    const [pr] = gh.pulls(GITHUB_REPO);
    assert.ok(pr.body.includes('## Questions and answers'), pr.body);
    assert.ok(
      pr.body.includes(
        `- **Q:** Which pagination pattern should I follow?\n  **A:** Cursor pagination, as in docs/PAGINATION.md _(${os.userInfo().username}, `,
      ),
      pr.body,
    );
    assert.ok(!pr.body.includes('## Questions nobody answered'));
  } finally {
    await fake.close();
    await gh.close();
  }
});
