/**
 * Pull requests through the real Octokit (retry and throttling plugins included) against a
 * loopback server speaking GitHub's REST API: one PR per branch under retries, lost
 * answers, 5xx, 429 and rate-limit answers; labels, reviewers, GitHub Enterprise paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { prBody, prTitle, FAILING_CHECKS_LABEL, type PrContent } from '../../activities/task/delivery/pr-body';
import {
  createGitHubClient,
  ensurePullRequest,
  githubRepoOf,
  type EnsurePrInput,
} from '../../activities/task/delivery/pull-request';
import { startFakeGitHub } from '../fakes/github-server';
import { gitIn, makeRepo } from '../sandbox/helpers';

const REPO = 'acme/widgets';

function remoteWithBranch(branch: string): string {
  const { repo, bare } = makeRepo();
  gitIn(repo, 'checkout', '-q', '-b', branch);
  gitIn(repo, 'commit', '-q', '--allow-empty', '-m', 'work');
  execFileSync('git', ['push', '-q', bare, `${branch}:refs/heads/${branch}`], { cwd: repo });
  return bare;
}

const input = (o: Partial<EnsurePrInput> = {}): EnsurePrInput => ({
  repo: { owner: 'acme', name: 'widgets' },
  branch: 'nightshift/2026-11-21/t1',
  baseCandidates: [],
  title: 'Add things (nightshift t1)',
  body: 'body',
  draft: false,
  labels: ['nightshift'],
  reviewers: [],
  checksFailing: false,
  ...o,
});

const fast = { retryBaseMs: 20 };

test('repository names: pull_request.repo, github.com URLs, the GitHub Enterprise host, nothing else', () => {
  assert.deepEqual(githubRepoOf('/srv/git/x.git', 'acme/widgets'), { owner: 'acme', name: 'widgets' });
  assert.deepEqual(githubRepoOf('https://github.com/org/repo', undefined), { owner: 'org', name: 'repo' });
  assert.deepEqual(githubRepoOf('https://github.com/org/repo.git', undefined), { owner: 'org', name: 'repo' });
  assert.deepEqual(githubRepoOf('git@github.com:org/repo.git', undefined), { owner: 'org', name: 'repo' });
  assert.deepEqual(githubRepoOf('https://ghe.corp.example/team/app', undefined, 'https://ghe.corp.example/api/v3'), {
    owner: 'team',
    name: 'app',
  });
  assert.equal(githubRepoOf('https://gitlab.com/org/repo', undefined), undefined);
  assert.equal(githubRepoOf('/srv/git/x.git', undefined), undefined);
});

test('creates once, then finds and updates the same PR by head; labels and reviewers', async () => {
  const gh = await startFakeGitHub({ repos: { [REPO]: { bare: remoteWithBranch('nightshift/2026-11-21/t1') } } });
  try {
    const client = await createGitHubClient({ token: 'ghs_test', apiUrl: gh.url }, fast);
    const first = await ensurePullRequest(client, input({ reviewers: ['alice'] }));
    const second = await ensurePullRequest(
      client,
      input({ title: 'Add things, take two (nightshift t1)', reviewers: ['alice'] }),
    );
    assert.equal(first.number, 1);
    assert.equal(second.number, 1);
    assert.equal(first.base, 'main', 'no candidate exists: the default branch');
    const [pr] = gh.pulls(REPO);
    assert.equal(gh.pulls(REPO).length, 1);
    assert.equal(pr.title, 'Add things, take two (nightshift t1)');
    assert.deepEqual(
      pr.labels.map((l) => l.name),
      ['nightshift'],
    );
    assert.deepEqual(
      pr.requested_reviewers.map((r) => r.login),
      ['alice'],
    );
    assert.equal(gh.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/pulls')).length, 1);
    assert.deepEqual(gh.calls.find((c) => c.method === 'GET' && c.path.endsWith('/pulls'))?.query, {
      head: 'acme:nightshift/2026-11-21/t1',
      state: 'all',
      per_page: '10',
    });
  } finally {
    await gh.close();
  }
});

test('a lost answer to the create (5xx after creating) ends in one PR: the retry gets 422 and finds it', async () => {
  const gh = await startFakeGitHub({ repos: { [REPO]: { bare: remoteWithBranch('nightshift/2026-11-21/t1') } } });
  gh.fault({ method: 'POST', path: /\/pulls$/, status: 502, apply: true });
  gh.fault({ method: 'GET', path: /\/pulls$/, status: 500, times: 1 });
  try {
    const client = await createGitHubClient({ token: 'ghs_test', apiUrl: gh.url }, fast);
    const pr = await ensurePullRequest(client, input());
    assert.equal(pr.number, 1);
    assert.equal(gh.pulls(REPO).length, 1);
    const creates = gh.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/pulls')).map((c) => c.status);
    assert.deepEqual(creates, [502, 422], 'Octokit retried the 502; GitHub said it already exists');
  } finally {
    await gh.close();
  }
});

test('429 with retry-after and 403 with x-ratelimit-remaining 0 are waited out and retried', async () => {
  const gh = await startFakeGitHub({ repos: { [REPO]: { bare: remoteWithBranch('nightshift/2026-11-21/t1') } } });
  gh.fault({
    method: 'GET',
    path: /\/pulls$/,
    status: 429,
    headers: { 'retry-after': '1' },
    message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
  });
  const reset = String(Math.floor(Date.now() / 1000));
  gh.fault({
    method: 'GET',
    path: /^\/repos\/acme\/widgets$/,
    status: 403,
    headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-limit': '5000', 'x-ratelimit-reset': reset },
    message: 'API rate limit exceeded',
  });
  try {
    const client = await createGitHubClient({ token: 'ghs_test', apiUrl: gh.url }, fast);
    const pr = await ensurePullRequest(client, input());
    assert.equal(pr.number, 1);
    const statuses = gh.calls.map((c) => `${c.method} ${c.path.replace('/repos/acme/widgets', '') || '/'} ${c.status}`);
    assert.deepEqual(statuses.slice(0, 4), ['GET / 403', 'GET / 200', 'GET /pulls 429', 'GET /pulls 200']);
  } finally {
    await gh.close();
  }
});

test('base: the first candidate that exists; failing-checks label added, then removed when they pass; GitHub Enterprise prefix', async () => {
  const bare = remoteWithBranch('nightshift/2026-11-21/t1');
  execFileSync('git', ['--git-dir', bare, 'branch', 'nightshift/2026-11-21/dep', 'main']);
  const gh = await startFakeGitHub({ repos: { [REPO]: { bare } }, prefix: '/api/v3' });
  try {
    assert.match(gh.url, /\/api\/v3$/);
    const client = await createGitHubClient({ token: 'ghs_test', apiUrl: gh.url }, fast);
    const failing = await ensurePullRequest(
      client,
      input({
        baseCandidates: ['nightshift/2026-11-21/gone', 'nightshift/2026-11-21/dep'],
        draft: true,
        checksFailing: true,
      }),
    );
    assert.equal(failing.base, 'nightshift/2026-11-21/dep');
    assert.equal(failing.draft, true);
    assert.deepEqual(
      gh.pulls(REPO)[0].labels.map((l) => l.name),
      ['nightshift', FAILING_CHECKS_LABEL],
    );
    await ensurePullRequest(
      client,
      input({ baseCandidates: ['nightshift/2026-11-21/dep'], checksFailing: false, reviewers: ['not-a-collaborator'] }),
    );
    assert.deepEqual(
      gh.pulls(REPO)[0].labels.map((l) => l.name),
      ['nightshift'],
    );
    assert.equal(gh.pulls(REPO).length, 1);
  } finally {
    await gh.close();
  }
});

test('title and body: task, summary, checks with output, cost, stacking note, policy note', () => {
  const c: PrContent = {
    workflowId: 'nightshift-2026-11-21/t2',
    taskId: 't2',
    title: 'Create custom nodes',
    description: 'Write the nodes.',
    acceptanceCriteria: ['nodes render'],
    summary: 'Added src/nodes.ts',
    status: 'failed',
    error: 'checks still failing after 2 fix rounds: npm test (exit 1)',
    checks: {
      passed: false,
      fixRounds: 2,
      results: [
        { command: 'npm run lint', exitCode: 0, passed: true, outputTail: '' },
        { command: 'npm test', exitCode: 1, passed: false, outputTail: 'FAIL nodes.test.ts' },
      ],
    },
    costUsd: 0.1234,
    tokens: { input: 1000, output: 100, cacheWrite: 0, cacheRead: 500 },
    turns: 7,
    model: 'claude-sonnet-4-5',
    dependencies: [
      {
        taskId: 't1',
        branch: 'nightshift/2026-11-21/t1',
        commit: 'abc',
        prUrl: 'https://github.example/acme/widgets/pull/1',
      },
    ],
    stackedOn: 'nightshift/2026-11-21/t1',
    assumptions: ['pattern B from PAGINATION.md'],
    answeredQuestions: [
      {
        questionId: '3-tu_a',
        question: 'Which node shape?\nRound or square?',
        answer: 'Round, as in the\ndesign file',
        by: 'alice',
        askedAt: Date.UTC(2026, 10, 21, 2, 0),
        answeredAt: Date.UTC(2026, 10, 21, 2, 41),
      },
      {
        questionId: '5-tu_b',
        question: 'Keep the old export?',
        answer: 'No',
        askedAt: Date.UTC(2026, 10, 21, 3, 0),
        answeredAt: Date.UTC(2026, 10, 21, 3, 5),
      },
    ],
    notes: ['the task passed 75% of its budget'],
  };
  assert.equal(prTitle(c), '[checks failing] Create custom nodes (nightshift t2)');
  const body = prBody(c);
  for (const want of [
    'Write the nodes.',
    '- nodes render',
    'Added src/nodes.ts',
    '**Status: failed** — checks still failing',
    '**Checks still fail after 2 fix rounds**',
    '| `npm run lint` | ✅ passed |',
    '| `npm test` | ❌ exit 1 |',
    'FAIL nodes.test.ts',
    '$0.1234 · 1600 tokens (input 1000, output 100, cache write 0, cache read 500) · 7 turns · claude-sonnet-4-5',
    'Stacked on `t1` (https://github.example/acme/widgets/pull/1, branch `nightshift/2026-11-21/t1`)',
    'under the safety policy',
    '## Questions and answers',
    '- **Q:** Which node shape? Round or square?\n  **A:** Round, as in the design file _(alice, 2026-11-21 02:41 UTC)_',
    '- **Q:** Keep the old export?\n  **A:** No _(2026-11-21 03:05 UTC)_',
    '## Questions nobody answered',
    '- pattern B from PAGINATION.md',
    '- the task passed 75% of its budget',
    '<!-- nightshift:nightshift-2026-11-21/t2 -->',
  ]) {
    assert.ok(body.includes(want), `body lacks ${JSON.stringify(want)}:\n${body}`);
  }
  assert.ok(
    body.indexOf('## Questions and answers') < body.indexOf('## Questions nobody answered'),
    'answered questions first',
  );
  assert.ok(
    !prBody({ ...c, answeredQuestions: [] }).includes('## Questions and answers'),
    'no section without answered questions',
  );
});

test('agent text cannot hide the checks or forge a section: escaped, quoted, and after the checks', () => {
  const forged = [
    'Did the work.',
    '<!--',
    '## Checks',
    'All checks passed.',
    '-->',
    '## Checks',
    '',
    'All checks passed.',
    '<img src="https://tracker.example/p.png"> ![pixel](https://tracker.example/q.png)',
    '```',
  ].join('\n');
  const c: PrContent = {
    workflowId: 'nightshift-2026-11-21/t3',
    taskId: 't3',
    title: 'Forge',
    description: 'Do it.',
    acceptanceCriteria: [],
    summary: forged,
    status: 'failed',
    error: 'policy forbids: <!-- x',
    checks: {
      passed: false,
      fixRounds: 1,
      results: [{ command: 'npm test', exitCode: 1, passed: false, outputTail: 'FAIL' }],
    },
    costUsd: 0,
    tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
    turns: 1,
    dependencies: [],
    assumptions: ['# Heading\n<!-- hidden'],
    answeredQuestions: [{ questionId: 'q', question: '<details>?', answer: '## yes', askedAt: 0, answeredAt: 0 }],
    notes: ['<b>bold</b>'],
  };
  const body = prBody(c);
  // The only HTML comment is nightshift's own marker, and the only "## Checks" heading is the real one, before the summary.
  assert.deepEqual(body.match(/<!--/g), ['<!--']);
  assert.ok(body.trimEnd().endsWith('<!-- nightshift:nightshift-2026-11-21/t3 -->'));
  assert.equal(body.match(/^## Checks$/gm)?.length, 1);
  assert.ok(body.indexOf('## Checks') < body.indexOf('## What the agent did'));
  assert.ok(body.indexOf('**Checks still fail after 1 fix round**') < body.indexOf('Did the work.'));
  for (const raw of ['<img', '<details>?', '<b>', '![pixel]']) assert.ok(!body.includes(raw), raw);
  assert.ok(body.includes('> \\## Checks'));
  assert.ok(body.includes('> &lt;!--'));
  assert.ok(body.includes('> \\```'));
  assert.ok(body.includes('- \\# Heading &lt;!-- hidden'));
  assert.ok(body.includes('**A:** \\## yes'));
  // Every line of the summary sits in the block quote.
  const summary = body.slice(body.indexOf('Did the work.') - 2, body.indexOf('## Cost'));
  for (const line of summary.trim().split('\n')) assert.match(line, /^>/);
});
