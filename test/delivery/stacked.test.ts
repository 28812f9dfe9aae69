/**
 * The Wander example's DAG as a real batch: 002 and 003 start from 001's branch, 004 from a
 * merge of both; PRs are stacked on the dependency's branch (one dependency) or target the
 * base with a note (several). A conflicting merge fails the dependent task naming the
 * files, and the report flags the tasks that changed the same files side by side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BatchResult } from '../../contract';
import { devServerForFile } from '../helpers/temporal';
import { runBatch } from '../helpers/batch';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, remote, taskOf, writesThenFinishes } from './helpers';
import { batchIdFor } from '../../contract';

const server = devServerForFile();
const DATE = '2026-11-22';

function wanderSpec(bare: string) {
  const task = (id: string, title: string, dependsOn: string[] = []) => ({
    id,
    title,
    depends_on: dependsOn,
    context: { repo: bare },
    agent_config: { model: 'haiku', max_turns: 5 },
  });
  return {
    date: DATE,
    max_concurrent_agents: 3,
    pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
    tasks: [
      task('wander-001', 'Create TypeScript types'),
      task('wander-002', 'Create custom nodes', ['wander-001']),
      task('wander-003', 'Create custom edges', ['wander-001']),
      task('wander-004', 'Create main component', ['wander-002', 'wander-003']),
    ],
  };
}

async function runWander(
  files: Record<string, Record<string, string>>,
): Promise<{ result: BatchResult; bare: string; gh: Awaited<ReturnType<typeof startFakeGitHub>>; root: string }> {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => writesThenFinishes(files[taskOf(req)], turn, `${taskOf(req)} done`),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    // The night's default batch, whose branches are nightshift/<date>/<task>.
    const result = await runBatch(server.env, worker, { spec: wanderSpec(bare) }, batchIdFor(DATE));
    return { result, bare, gh, root: config.root };
  } finally {
    await fake.close();
  }
}

test("wander: 002 and 003 start from 001's branch, 004 from a merge of both; PRs stacked, 004 against the base", async () => {
  const { result, bare, gh, root } = await runWander({
    'wander-001': { 'src/types.ts': 'export type Id = string;\n' },
    'wander-002': { 'src/nodes.ts': 'export const nodes = [];\n' },
    'wander-003': { 'src/edges.ts': 'export const edges = [];\n' },
    'wander-004': { 'src/app.ts': 'export const app = 1;\n' },
  });
  try {
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    for (const t of result.tasks) assert.equal(t.status, 'succeeded', `${t.taskId}: ${t.error}`);
    for (const t of result.tasks) {
      assert.equal(t.branch, `nightshift/${DATE}/${t.taskId}`);
      assert.equal(git(bare, 'rev-parse', `refs/heads/${t.branch}`), t.commit, `${t.taskId} pushed and verified`);
      assert.equal(t.deliveryError, undefined, `${t.taskId}: ${t.deliveryError}`);
    }
    const w1 = by['wander-001'].commit!;
    assert.equal(git(bare, 'rev-parse', `${w1}^`), git(bare, 'rev-parse', 'main'));
    assert.equal(git(bare, 'rev-parse', `${by['wander-002'].commit}^`), w1, '002 starts from 001');
    assert.equal(git(bare, 'rev-parse', `${by['wander-003'].commit}^`), w1, '003 starts from 001');
    const merge = git(bare, 'rev-parse', `${by['wander-004'].commit}^`);
    assert.deepEqual(
      git(bare, 'log', '-1', '--format=%P', merge).split(' '),
      [by['wander-002'].commit, by['wander-003'].commit],
      '004 starts from a merge of 002 and 003',
    );
    assert.deepEqual(
      git(bare, 'ls-tree', '-r', '--name-only', by['wander-004'].commit!)
        .split('\n')
        .filter((f) => f.startsWith('src/')),
      ['src/app.ts', 'src/edges.ts', 'src/nodes.ts', 'src/types.ts'],
    );
    assert.deepEqual(by['wander-004'].filesChanged, ['src/app.ts'], "004's commit holds only its own change");

    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 4, 'one PR per task');
    const base = (id: string) => pulls.find((p) => p.head.ref === `nightshift/${DATE}/${id}`)?.base.ref;
    assert.equal(base('wander-001'), 'main');
    assert.equal(base('wander-002'), `nightshift/${DATE}/wander-001`, 'stacked on its dependency');
    assert.equal(base('wander-003'), `nightshift/${DATE}/wander-001`);
    assert.equal(base('wander-004'), 'main', 'several dependencies: the base, with a note');
    const p4 = pulls.find((p) => p.head.ref.endsWith('wander-004'))!;
    assert.match(
      p4.body,
      /Builds on `wander-002` \(https:\/\/github\.example\/acme\/widgets\/pull\/\d, branch `nightshift\/2026-11-22\/wander-002`\) and `wander-003`/,
    );

    // The morning report: PR links, branches, patches, no problems.
    assert.ok(result.report && 'markdown' in result.report, JSON.stringify(result.report));
    const md = readFileSync(path.join(root, result.report.markdown), 'utf8');
    const json = JSON.parse(readFileSync(path.join(root, result.report.json), 'utf8'));
    assert.match(md, /## Needs a human\n\nNothing\. Every task that ran succeeded\./);
    assert.doesNotMatch(md, /Changed the same files side by side/);
    for (const t of result.tasks) {
      assert.ok(md.includes(`- pull request: ${t.prUrl}\n`), `report links ${t.taskId}'s PR`);
      assert.ok(md.includes(`- branch: \`${t.branch}\` at ${t.commit!.slice(0, 12)} (pushed)`));
      const rec = json.results.find((r: { task: string }) => r.task === t.taskId);
      assert.equal(rec.prUrl, t.prUrl);
      assert.equal(rec.branch, t.branch);
      assert.equal(rec.commit, t.commit);
      assert.equal(rec.pushed, true);
      assert.equal(rec.patchFile, t.patchFile);
    }
    assert.deepEqual(json.overlaps, []);
  } finally {
    await gh.close();
  }
});

test('a conflicting merge fails the dependent task naming the files; the report flags the side-by-side overlap', async () => {
  const { result, root, gh } = await runWander({
    'wander-001': { 'src/types.ts': 'export type Id = string;\n' },
    'wander-002': { 'src/shared.ts': 'export const owner = "nodes";\n' },
    'wander-003': { 'src/shared.ts': 'export const owner = "edges";\n' },
    'wander-004': { 'src/app.ts': 'never written\n' },
  });
  try {
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    assert.equal(by['wander-002'].status, 'succeeded');
    assert.equal(by['wander-003'].status, 'succeeded');
    assert.equal(by['wander-004'].status, 'failed');
    assert.match(
      by['wander-004'].error ?? '',
      /merging wander-003 \(nightshift\/2026-11-22\/wander-003\) into wander-002 conflicts in src\/shared\.ts/,
    );
    assert.equal(by['wander-004'].turns, 0, 'the agent never started');
    assert.equal(gh.pulls(GITHUB_REPO).length, 3);

    assert.ok(result.report && 'markdown' in result.report);
    const md = readFileSync(path.join(root, result.report.markdown), 'utf8');
    assert.match(
      md,
      /## Changed the same files side by side\n\n- \*\*wander-002\*\* and \*\*wander-003\*\* both changed `src\/shared\.ts`/,
    );
    assert.match(
      md,
      /\*\*wander-004\*\* \(Create main component\): failed — the branches of its dependencies conflict/,
    );
    const json = JSON.parse(readFileSync(path.join(root, result.report.json), 'utf8'));
    assert.deepEqual(json.overlaps, [{ tasks: ['wander-002', 'wander-003'], files: ['src/shared.ts'] }]);
  } finally {
    await gh.close();
  }
});
