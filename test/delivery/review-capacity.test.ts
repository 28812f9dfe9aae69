/**
 * Review capacity on a real dev server: `max_prs_per_repo: 2` with five tasks on one
 * repository opens two PRs and delivers three as a branch and a patch; every delivered
 * change carries its review cost; the morning report puts what needs a human first, then
 * the smallest review first. The review-cost reading of a patch, and the slot claims, on
 * their own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile } from '../helpers/temporal';
import { runBatch } from '../helpers/batch';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { filePrSlots, reviewCostLine, reviewCostOf } from '../../activities/task/delivery/review-cost';
import { tempDir } from '../sandbox/helpers';
import { deliveryConfig, deliveryWorker, GITHUB_REPO, remote, taskOf } from './helpers';

const server = devServerForFile();

/** Lines each task writes: sizes picked so the smallest-review order differs from the task order. */
const LINES: Record<string, number> = { a: 3, b: 1, c: 5, d: 2, e: 4 };

test('max_prs_per_repo: 2 with five tasks on one repo: two PRs, three patches, the report in review order', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      const id = taskOf(req);
      if (turn === 1)
        return message([
          toolUse(`tu_${id}`, 'write_file', {
            path: `${id}.txt`,
            content: Array.from({ length: LINES[id] }, (_, i) => `line ${i}`).join('\n') + '\n',
          }),
        ]);
      return message([
        text('Done.'),
        toolUse(`tu_fin_${id}_${turn}`, 'finish', { summary: `wrote ${id}.txt`, verification: 'cat' }),
      ]);
    },
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const result = await runBatch(server.env, worker, {
      spec: {
        date: '2026-11-24',
        max_concurrent_agents: 1,
        max_prs_per_repo: 2,
        pull_request: { repo: GITHUB_REPO },
        tasks: Object.keys(LINES).map((id) => ({
          id,
          title: `Write ${id}`,
          context: { repo: bare },
          agent_config: { model: 'haiku', max_turns: 4 },
          // e's check cannot pass: it needs a human, so it comes first in the report.
          ...(id === 'e' ? { checks: ['exit 1'], fix_attempts: 0 } : {}),
        })),
      },
    });
    const byId = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 2);
    const withPr = result.tasks.filter((t) => t.prUrl).map((t) => t.taskId);
    const capped = result.tasks.filter((t) => t.prCapped).map((t) => t.taskId);
    assert.equal(withPr.length, 2);
    assert.equal(capped.length, 3);
    for (const id of capped) {
      const t = byId[id];
      assert.equal(t.pushed, true, `${id}'s branch is pushed`);
      assert.match(readFileSync(path.join(config.root, t.patchFile!), 'utf8'), new RegExp(`\\+\\+\\+ b/${id}\\.txt`));
      assert.equal(t.deliveryError, undefined, 'the cap is not a delivery problem');
    }
    for (const [id, n] of Object.entries(LINES))
      assert.deepEqual([byId[id].reviewCost?.files, byId[id].reviewCost?.added], [1, n], id);
    for (const pr of pulls) assert.match(pr.body, /\*\*Review cost:\*\* 1 file, \+\d −0 lines; touches no CI config/);

    assert.ok(result.report && 'markdown' in result.report);
    const md = readFileSync(path.join(config.root, result.report.markdown), 'utf8');
    assert.match(md, /3 delivered as a branch and a patch without a pull request \(max_prs_per_repo reached\)/);
    const order = [...md.matchAll(/^### (\w+): /gm)].map((m) => m[1]);
    assert.deepEqual(order, ['e', 'b', 'd', 'a', 'c'], 'needs a human first, then smallest review first');
    const table = [...md.matchAll(/^\| (\w) \| /gm)].map((m) => m[1]);
    assert.deepEqual(table, ['e', 'b', 'd', 'a', 'c']);
    const json = JSON.parse(readFileSync(path.join(config.root, result.report.json), 'utf8')) as {
      results: { task: string; prCapped?: boolean }[];
    };
    assert.deepEqual(
      json.results
        .filter((r) => r.prCapped)
        .map((r) => r.task)
        .sort(),
      [...capped].sort(),
    );
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('review cost of a patch: files, lines, and CI, dependency, migration and auth/secrets paths', () => {
  const patch = [
    'From 1 Mon Sep 17 00:00:00 2001',
    'Subject: [PATCH] x',
    '---',
    'diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml',
    '--- a/.github/workflows/ci.yml',
    '+++ b/.github/workflows/ci.yml',
    '@@ -1 +1 @@',
    '-old',
    '+new',
    'diff --git a/package.json b/package.json',
    '--- a/package.json',
    '+++ b/package.json',
    '@@ -1 +1,2 @@',
    '+  "dep": "1"',
    'diff --git a/db/migrations/001_add.sql b/db/migrations/001_add.sql',
    '+create table t();',
    'diff --git a/src/auth/session.ts b/src/auth/session.ts',
    '+export {}',
    'diff --git a/src/util.ts b/src/util.ts',
    '+x',
    '-- ',
    '2.43.0',
  ].join('\n');
  const c = reviewCostOf(patch);
  assert.deepEqual(c, {
    files: 5,
    added: 5,
    removed: 1,
    ci: ['.github/workflows/ci.yml'],
    dependencies: ['package.json'],
    migrations: ['db/migrations/001_add.sql'],
    sensitive: ['src/auth/session.ts'],
  });
  assert.equal(
    reviewCostLine(c),
    '5 files, +5 −1 lines; touches CI config (.github/workflows/ci.yml), dependency manifests (package.json), migrations (db/migrations/001_add.sql), auth or secrets paths (src/auth/session.ts)',
  );
  assert.deepEqual(reviewCostOf('diff --git a/README.md b/README.md\n+hi\n').sensitive, []);
});

test('PR slots: at most cap holders per repo and night, a holder keeps its slot, concurrent claims never pass the cap', async () => {
  const slots = filePrSlots({ root: tempDir('slots') });
  const claims = await Promise.all(
    Array.from({ length: 8 }, (_, i) => slots.claim({ night: 'n1', repo: 'r', holder: `t${i}`, cap: 3 })),
  );
  assert.equal(claims.filter((c) => c.granted).length, 3);
  const winner = claims.findIndex((c) => c.granted);
  assert.equal(
    (await slots.claim({ night: 'n1', repo: 'r', holder: `t${winner}`, cap: 3 })).granted,
    true,
    'a retried claim keeps its slot',
  );
  assert.equal(
    (await slots.claim({ night: 'n1', repo: 'other', holder: 't9', cap: 3 })).granted,
    true,
    'another repo has its own slots',
  );
  assert.equal(
    (await slots.claim({ night: 'n2', repo: 'r', holder: 't9', cap: 3 })).granted,
    true,
    'another night starts over',
  );
});
