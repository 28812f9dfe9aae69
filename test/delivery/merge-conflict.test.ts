/**
 * `on_merge_conflict: agent` on a real dev server with the Wander example's DAG: 002 and 003
 * both write src/shared.ts, so 004's merge of their branches conflicts. The merge is left
 * in progress in 004's workspace, its first message names the file, a scripted agent reads
 * the markers and edits the file, and the delivered branch in the bare remote is a merge
 * of both dependencies holding the resolution. An agent that finishes with the markers
 * still there fails the task, naming the file, and nothing of it is pushed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MessagesReply, MessagesRequest } from '../../demo/messages-server';
import type { BatchResult } from '../../contract';
import { devServerForFile } from '../helpers/temporal';
import { runBatch } from '../helpers/batch';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, remote, taskOf, writesThenFinishes } from './helpers';
import { batchIdFor } from '../../contract';

const server = devServerForFile();
const DATE = '2026-11-23';
const RESOLVED = 'export const owner = "nodes and edges";\n';

const DEPENDENCIES: Record<string, Record<string, string>> = {
  'wander-001': { 'src/types.ts': 'export type Id = string;\n' },
  'wander-002': { 'src/shared.ts': 'export const owner = "nodes";\n', 'src/nodes.ts': 'export const nodes = [];\n' },
  'wander-003': { 'src/shared.ts': 'export const owner = "edges";\n', 'src/edges.ts': 'export const edges = [];\n' },
};

function spec(bare: string) {
  const task = (id: string, title: string, dependsOn: string[] = []) => ({
    id,
    title,
    depends_on: dependsOn,
    context: { repo: bare },
    agent_config: { model: 'haiku', max_turns: 6 },
  });
  return {
    date: DATE,
    max_concurrent_agents: 3,
    pull_request: { repo: GITHUB_REPO },
    tasks: [
      task('wander-001', 'Create TypeScript types'),
      task('wander-002', 'Create custom nodes', ['wander-001']),
      task('wander-003', 'Create custom edges', ['wander-001']),
      { ...task('wander-004', 'Create main component', ['wander-002', 'wander-003']), on_merge_conflict: 'agent' },
    ],
  };
}

const firstMessageOf = (req: MessagesRequest) => (req.body.messages?.[0]?.content as { text: string }[])[0]?.text ?? '';
const lastContent = (req: MessagesRequest) =>
  JSON.stringify(req.body.messages?.[req.body.messages.length - 1]?.content ?? '');

async function run(agent004: (turn: number) => MessagesReply) {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      const id = taskOf(req);
      return id === 'wander-004' ? agent004(turn) : writesThenFinishes(DEPENDENCIES[id], turn, `${id} done`);
    },
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    // The night's default batch, whose branches are nightshift/<date>/<task>.
    const result: BatchResult = await runBatch(server.env, worker, { spec: spec(bare) }, batchIdFor(DATE));
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    for (const id of ['wander-001', 'wander-002', 'wander-003'])
      assert.equal(by[id].status, 'succeeded', `${id}: ${by[id].error}`);
    return {
      by,
      bare,
      gh,
      root: config.root,
      requests: fake.requests.filter((r) => taskOf(r) === 'wander-004'),
      result,
    };
  } finally {
    await fake.close();
  }
}

test('the agent resolves the conflict by editing the file; the delivered branch is a merge of both dependencies', async () => {
  const { by, bare, gh, root, requests, result } = await run((turn) => {
    if (turn === 1)
      return message([
        text('A merge is in progress.'),
        toolUse('tu_r', 'read_file', { path: 'src/shared.ts' }),
        toolUse('tu_s', 'bash', { command: 'git status --short' }),
      ]);
    if (turn === 2)
      return message([
        toolUse('tu_w', 'write_file', { path: 'src/shared.ts', content: RESOLVED }),
        toolUse('tu_a', 'write_file', { path: 'src/app.ts', content: 'export const app = 1;\n' }),
      ]);
    return message([
      toolUse(`tu_fin_${turn}`, 'finish', {
        summary: 'resolved src/shared.ts and added the app',
        verification: 'read it back',
      }),
    ]);
  });
  try {
    const t4 = by['wander-004'];
    assert.equal(t4.status, 'succeeded', t4.error);
    // The first message names the conflict in a section of its own.
    const first = firstMessageOf(requests[0]);
    assert.match(first, /^Start on task wander-004: Create main component\./);
    assert.match(
      first,
      /## Merge conflict: resolve it first[\s\S]*Merging the branch of wander-003 \(nightshift\/2026-11-23\/wander-003\) into the work of wander-002 conflicts/,
    );
    assert.match(first, /These files hold conflict markers \(<<<<<<<, =======, >>>>>>>\): src\/shared\.ts\./);
    assert.match(first, /Do not run `git add`, `git commit` or `git merge --continue`/);
    // The workspace the agent saw held the merge in progress, markers and all.
    const seen = lastContent(requests[1]);
    assert.match(
      seen,
      /<<<<<<< [^\n]*\\n[\s\S]*owner = \\"nodes\\"[\s\S]*=======[\s\S]*owner = \\"edges\\"[\s\S]*>>>>>>> /,
    );
    assert.match(seen, /AA src\/shared\.ts/, 'git status shows the file both branches added as unmerged');

    // The delivered branch: a merge commit whose parents are both dependencies' commits.
    const commit = t4.commit!;
    assert.equal(git(bare, 'rev-parse', `refs/heads/nightshift/${DATE}/wander-004`), commit);
    assert.deepEqual(git(bare, 'log', '-1', '--format=%P', commit).split(' '), [
      by['wander-002'].commit,
      by['wander-003'].commit,
    ]);
    assert.equal(git(bare, 'show', `${commit}:src/shared.ts`) + '\n', RESOLVED);
    assert.equal(git(bare, 'show', `${commit}:src/app.ts`), 'export const app = 1;');
    assert.deepEqual(
      git(bare, 'ls-tree', '-r', '--name-only', commit)
        .split('\n')
        .filter((f) => f.startsWith('src/')),
      ['src/app.ts', 'src/edges.ts', 'src/nodes.ts', 'src/shared.ts', 'src/types.ts'],
    );
    assert.match(
      git(bare, 'log', '-1', '--format=%B', commit),
      /^nightshift: wander-004: Create main component\n\nresolved src\/shared\.ts[\s\S]*This commit merges wander-003 \(nightshift\/2026-11-23\/wander-003\) into wander-002; the agent resolved the conflicts in src\/shared\.ts\.\n\nNightshift-Task: /,
    );
    // Against its first parent (002's branch) the change is 003's work, the resolution and the app.
    assert.deepEqual(t4.filesChanged, ['src/app.ts', 'src/edges.ts', 'src/shared.ts']);
    const patch = readFileSync(path.join(root, t4.patchFile!), 'utf8');
    assert.match(
      patch,
      /Subject: \[PATCH\] nightshift: wander-004: Create main component[\s\S]*-export const owner = "nodes";\n\+export const owner = "nodes and edges";/,
    );

    const pr = gh.pulls(GITHUB_REPO).find((p) => p.head.ref === `nightshift/${DATE}/wander-004`)!;
    assert.equal(pr.base.ref, 'main');
    assert.ok(
      pr.body.includes(
        '- The delivered commit merges wander-003 (nightshift/2026-11-23/wander-003) into wander-002; the agent resolved the conflicts in src/shared.ts: review those files.',
      ),
      pr.body,
    );
    assert.ok(result.report && 'markdown' in result.report);
    assert.match(
      readFileSync(path.join(root, result.report.markdown), 'utf8'),
      /- note: The delivered commit merges wander-003/,
    );
  } finally {
    await gh.close();
  }
});

test('an agent that finishes with conflict markers left fails the task naming the file; nothing is pushed', async () => {
  const { by, bare, gh, requests } = await run((turn) =>
    turn === 1
      ? message([toolUse('tu_a', 'write_file', { path: 'src/app.ts', content: 'export const app = 1;\n' })])
      : message([toolUse(`tu_fin_${turn}`, 'finish', { summary: 'added the app', verification: 'none' })]),
  );
  try {
    const t4 = by['wander-004'];
    assert.equal(requests.length, 2, 'the agent ran');
    assert.equal(t4.status, 'failed');
    assert.equal(
      t4.error,
      "conflict markers are still in src/shared.ts (the merge of wander-003's branch left to the agent); nothing was committed",
    );
    assert.equal(t4.commit, undefined);
    assert.equal(t4.prUrl, undefined);
    assert.throws(
      () => git(bare, 'rev-parse', '--verify', `refs/heads/nightshift/${DATE}/wander-004`),
      'nothing reached the remote',
    );
    assert.match(
      readFileSync(path.join(t4.workDir!, 'src/shared.ts'), 'utf8'),
      /^<<<<<<< /m,
      'the work is kept for a person',
    );
    assert.equal(gh.pulls(GITHUB_REPO).length, 3);
  } finally {
    await gh.close();
  }
});
