/**
 * Checks a reviewer can trust, on a real dev server with real repositories and node's own
 * test runner in the sandbox: a check that already failed on the base is reported as
 * pre-existing (and the agent is told so up front), a check that flips on its rerun as
 * flaky, and tests the agent deleted, skipped or stopped running are flagged, fed back
 * once, and delivered as a labelled draft.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile } from '../helpers/temporal';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import type { MessagesReply, MessagesRequest } from '../../demo/messages-server';
import { startFakeGitHub } from '../fakes/github-server';
import { agentInput, agentSpec, runAgentTask } from '../agent/helpers';
import { gitIn, tempDir } from '../sandbox/helpers';
import { stateDir } from '../../common/config';
import { renderReportMarkdown } from '../../activities/night/report';
import type { BatchStatus, TaskResult } from '../../contract';
import { TEST_INTEGRITY_LABEL } from '../../workflows/task/delivery';
import { deliveryConfig, deliveryWorker, GITHUB_REPO, prSettings } from './helpers';

const server = devServerForFile();

const TESTS = "const { test } = require('node:test');\nconst assert = require('node:assert');\n";

/** A bare remote whose `main` holds `files`. */
function remoteWith(files: Record<string, string>): string {
  const repo = tempDir('repo');
  gitIn(repo, 'init', '--quiet', '-b', 'main');
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(repo, p)), { recursive: true });
    writeFileSync(path.join(repo, p), content);
  }
  gitIn(repo, 'add', '.');
  gitIn(repo, 'commit', '--quiet', '-m', 'initial');
  const bare = tempDir('bare');
  execFileSync('git', ['clone', '--quiet', '--bare', repo, bare]);
  return bare;
}

const firstUserText = (req: MessagesRequest) => {
  const c = req.body.messages?.[0]?.content as { text?: string }[] | string;
  return typeof c === 'string' ? c : c.map((b) => b.text ?? '').join('');
};
const lastToolResult = (req: MessagesRequest) => {
  const msgs = req.body.messages!;
  return (msgs[msgs.length - 1].content as { type: string; content?: string; is_error?: boolean }[]).find(
    (b) => b.type === 'tool_result',
  );
};
const finish = (turn: number): MessagesReply =>
  message([text('Done.'), toolUse(`tu_fin_${turn}`, 'finish', { summary: 'done', verification: 'node --test' })]);

test('a check that already fails on the base is pre-existing: the agent is told, not blamed; PR and report show base vs result', async () => {
  const bare = remoteWith({
    'test/math.test.js': `${TESTS}test('adds', () => assert.equal(1 + 1, 2));\ntest('broken on main', () => assert.equal(1 + 1, 3));\n`,
  });
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([toolUse('tu_1', 'write_file', { path: 'greet.js', content: 'module.exports = () => "hi";\n' })])
        : finish(turn),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const checks = ['node --test'];
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings(), checks })),
    );

    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.turns, 2, 'no fix round was spent on a failure the base already had');
    assert.equal(result.checks?.passed, true);
    const [r] = result.checks!.results;
    assert.equal(r.base, 'failed');
    assert.equal(r.preExisting, true);
    assert.equal(r.passed, false);
    assert.deepEqual(r.tests, { total: 2, passed: 1, failed: 1, skipped: 0 });
    assert.deepEqual(r.baseTests, r.tests);
    assert.match(
      firstUserText(fake.requests[0]),
      /already fail on the base[\s\S]*`node --test` \(exit 1\): 1 of 2 tests fail there/,
    );

    const [pr] = gh.pulls(GITHUB_REPO);
    assert.equal(pr.draft, false);
    assert.doesNotMatch(pr.title, /checks failing/);
    assert.match(pr.body, /\| command \| base \(before the agent\) \| result \|/);
    assert.match(
      pr.body,
      /\| `node --test` \| ❌ failed · 2 tests, 1 failed, 0 skipped \| ❌ exit 1 — pre-existing: it failed on the base too/,
    );

    const report = renderReportMarkdown(reportOf(result));
    assert.match(
      report,
      /`node --test`: base failed \[2 tests, 1 failed, 0 skipped\] → failed \(exit 1\), pre-existing/,
    );

    // The base result is cached for the night: a second task on the same commit does not run it again.
    const cached = readdirSync(path.join(stateDir(config), 'baseline-checks', '2026-11-21'));
    assert.equal(cached.length, 1);
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('an agent that breaks one more test in a check the base already failed is blamed', async () => {
  const bare = remoteWith({
    'test/math.test.js': `${TESTS}test('adds', () => assert.equal(1 + 1, 2));\ntest('broken on main', () => assert.equal(1 + 1, 3));\n`,
  });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([
            toolUse('tu_1', 'write_file', {
              path: 'test/math.test.js',
              content: `${TESTS}test('adds', () => assert.equal(1 + 1, 5));\ntest('broken on main', () => assert.equal(1 + 1, 3));\n`,
            }),
          ])
        : finish(turn),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, 'http://127.0.0.1:9');
    const worker = await deliveryWorker(server.env, config);
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, checks: ['node --test'], fixAttempts: 0 })),
    );
    assert.equal(result.status, 'failed');
    assert.equal(result.checks?.results[0].preExisting, undefined);
    assert.deepEqual(result.checks?.results[0].tests, { total: 2, passed: 0, failed: 2, skipped: 0 });
  } finally {
    await fake.close();
  }
});

test('a check that fails once and passes on the rerun is flaky, not failed', async () => {
  const bare = remoteWith({ 'README.md': '# demo\n' });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1 ? message([toolUse('tu_1', 'write_file', { path: 'a.txt', content: 'a\n' })]) : finish(turn),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, 'http://127.0.0.1:9');
    const worker = await deliveryWorker(server.env, config);
    // Fails the first time it runs in a sandbox, passes after: the mark lives in the sandbox's HOME, outside the workspace.
    const flaky = 'if [ -e "$HOME/ran-once" ]; then exit 0; else touch "$HOME/ran-once"; echo "timing out"; exit 1; fi';
    const { result } = await runAgentTask(server.env, worker, agentInput(agentSpec({ repo: bare, checks: [flaky] })));
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.turns, 2);
    const [r] = result.checks!.results;
    assert.equal(r.flaky, true);
    assert.equal(r.passed, true);
    assert.equal(r.base, 'flaky', 'the base run flipped too');
    assert.match(r.outputTail, /timing out[\s\S]*rerun on the same tree passed/);
    assert.match(renderReportMarkdown(reportOf(result)), /base flaky → flaky \(failed, passed on rerun\)/);
  } finally {
    await fake.close();
  }
});

const TWO_TESTS = `${TESTS}test('one', () => assert.ok(true));\ntest('two', () => assert.ok(true));\n`;

for (const scenario of [
  {
    name: 'deletes a test file',
    change: toolUse('tu_1', 'bash', { command: 'rm test/b.test.js' }),
    kinds: ['test-file-deleted', 'tests-disappeared'],
  },
  {
    name: 'adds .skip',
    change: toolUse('tu_1', 'write_file', {
      path: 'test/b.test.js',
      content: `${TESTS}test.skip('one', () => assert.ok(false));\ntest('two', () => assert.ok(true));\n`,
    }),
    // Seen twice: in the runner's counts and in the line the agent added.
    kinds: ['newly-skipped', 'newly-skipped'],
  },
  {
    name: 'makes the test command run zero tests',
    // Out of the runner's reach: node --test finds no test files at all.
    change: toolUse('tu_1', 'bash', {
      command: 'mkdir later && mv test/a.test.js later/a.js && mv test/b.test.js later/b.js',
    }),
    kinds: ['test-file-deleted', 'test-file-deleted', 'zero-tests'],
  },
]) {
  test(`an agent that ${scenario.name}: flagged, told once with a fix round, delivered as a labelled draft`, async () => {
    const bare = remoteWith({ 'test/a.test.js': TWO_TESTS, 'test/b.test.js': TWO_TESTS });
    const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
    const fake = await startFakeAnthropic({
      byTurn: (turn) => (turn === 1 ? message([scenario.change]) : finish(turn)),
    });
    try {
      const config = deliveryConfig(server.env, fake.url, gh.url);
      const worker = await deliveryWorker(server.env, config);
      const { result } = await runAgentTask(
        server.env,
        worker,
        agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings(), checks: ['node --test'] })),
      );

      assert.equal(result.turns, 3, 'finish, the one round after being told, finish again');
      const told = lastToolResult(fake.requests[2])!;
      assert.equal(told.is_error, true);
      assert.match(told.content!, /tests look weakened/);
      assert.deepEqual(result.checks?.integrity?.map((f) => f.kind).sort(), scenario.kinds);

      const [pr] = gh.pulls(GITHUB_REPO);
      assert.equal(pr.draft, true);
      assert.equal(result.prDraft, true);
      assert.ok(pr.labels.some((l) => l.name === TEST_INTEGRITY_LABEL));
      assert.match(pr.title, /^\[tests weakened\] /);
      assert.match(pr.body.split('## Checks')[0], /## ⚠️ Tests look weakened/, 'the finding comes before the checks');
      assert.match(
        renderReportMarkdown(reportOf(result)),
        /## Needs a human\n\n- \*\*agent-1\*\* \(Add a greeting module\): tests look weakened/,
      );
    } finally {
      await fake.close();
      await gh.close();
    }
  });
}

test('an agent told of weakened tests that restores them is delivered normally', async () => {
  const bare = remoteWith({ 'test/a.test.js': TWO_TESTS });
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1)
        return message([
          toolUse('tu_1', 'write_file', {
            path: 'test/a.test.js',
            content: `${TESTS}test.skip('one', () => {});\ntest('two', () => {});\n`,
          }),
        ]);
      if (turn === 3) return message([toolUse('tu_3', 'write_file', { path: 'test/a.test.js', content: TWO_TESTS })]);
      return finish(turn);
    },
  });
  try {
    const config = deliveryConfig(server.env, fake.url, 'http://127.0.0.1:9');
    const worker = await deliveryWorker(server.env, config);
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, checks: ['node --test'] })),
    );
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.turns, 4);
    assert.equal(result.checks?.integrity, undefined);
    assert.equal(result.checks?.fixRounds, 0, "the integrity round is not one of the checks' fix rounds");
  } finally {
    await fake.close();
  }
});

function reportOf(result: TaskResult): BatchStatus {
  return {
    batchId: 'nightshift-2026-11-21',
    date: '2026-11-21',
    state: 'completed',
    startedAt: 0,
    tasks: [{ ...result, title: 'Add a greeting module', workflowId: 'w' }],
  };
}
