/**
 * Checkpoints travel between hosts through the state store: exported from one host's
 * checkpoints.git as bundles, imported into another's with the base history they need.
 * Real git repositories, a real PostgreSQL, and the file store for comparison.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { FileStateStore, type StateStore } from '../../common/store';
import { PostgresStateStore } from '../../common/store/postgres';
import { exportCheckpoint, importCheckpoint } from '../../sandbox/checkpoint-sync';
import { checkpointRef, ensureCheckpointStore, gitStream } from '../../sandbox/workspace';
import { postgresForFile } from '../helpers/postgres';

const pg = postgresForFile();

const git = (args: string[], cwd?: string) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();
const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), `nightshift-${p}-`));

/** Host A's checkpoints.git holding a base (three commits of history) and a checkpoint on top of it at `ref`. */
async function hostWithCheckpoint(
  ref: string,
  content: string,
): Promise<{ gitDir: string; base: string; commit: string }> {
  const work = tmp('clone');
  git(['init', '-q', '-b', 'main', work]);
  for (let i = 1; i <= 3; i++) {
    writeFileSync(path.join(work, `f${i}.txt`), `v${i}\n`);
    git(['add', '.'], work);
    git(['commit', '-qm', `c${i}`], work);
  }
  const base = git(['rev-parse', 'HEAD'], work);
  const gitDir = path.join(tmp('host-a'), 'checkpoints.git');
  await ensureCheckpointStore(gitDir);
  git(['--git-dir', gitDir, 'fetch', '-q', path.join(work, '.git'), base]);
  writeFileSync(path.join(work, 'agent.txt'), content);
  git(['add', '.'], work);
  const tree = git(['write-tree'], work);
  // The worker's checkpoint: a commit of the work tree on the base, at `ref`, outside the branch.
  const commit = git(['commit-tree', tree, '-p', base, '-m', 'checkpoint'], work);
  git(['update-ref', 'refs/tmp/cp', commit], work);
  git(['--git-dir', gitDir, 'fetch', '-q', path.join(work, '.git'), `refs/tmp/cp:${ref}`]);
  return { gitDir, base, commit };
}

const backends: { name: string; open: () => Promise<StateStore> }[] = [
  { name: 'postgres', open: () => PostgresStateStore.open(pg.server.url) },
  { name: 'file', open: async () => new FileStateStore({ dir: tmp('store') }) },
];

for (const backend of backends) {
  test(`${backend.name}: a checkpoint exported on host A is rebuilt on host B with its base history`, async () => {
    const store = await backend.open();
    try {
      const workflowId = `nightshift-test-${process.pid}-${backend.name}/task-1`;
      const ref = checkpointRef(workflowId);
      const a = await hostWithCheckpoint(ref, 'work done on A\n');
      await exportCheckpoint(store, a.gitDir, workflowId, ref);
      // Exporting the same checkpoint again writes nothing new.
      await exportCheckpoint(store, a.gitDir, workflowId, ref);

      const b = path.join(tmp('host-b'), 'checkpoints.git');
      assert.equal(await importCheckpoint(store, b, workflowId, ref), true);
      assert.equal(git(['--git-dir', b, 'rev-parse', ref]), a.commit);
      assert.equal(git(['--git-dir', b, 'show', `${ref}:agent.txt`]), 'work done on A');
      assert.equal(git(['--git-dir', b, 'rev-list', '--count', ref]), '4');
      git(['--git-dir', b, 'fsck', '--no-dangling']);

      // A later checkpoint (another base, as after a re-clone) replaces it on B as well.
      const later = await hostWithCheckpoint(ref, 'more work on A\n');
      await exportCheckpoint(store, later.gitDir, workflowId, ref);
      assert.equal(await importCheckpoint(store, b, workflowId, ref), true);
      assert.equal(git(['--git-dir', b, 'show', `${ref}:agent.txt`]), 'more work on A');

      // A task that never checkpointed has nothing to import.
      assert.equal(
        await importCheckpoint(
          store,
          path.join(tmp('host-c'), 'checkpoints.git'),
          `${workflowId}-none`,
          checkpointRef(`${workflowId}-none`),
        ),
        false,
      );
    } finally {
      await store.close();
    }
  });
}

test('a git stream keeps its output for a reader that comes after git has exited', async () => {
  const a = await hostWithCheckpoint('refs/nightshift/checkpoints/late-reader', 'x\n');
  const { stdout, done } = gitStream([
    '--git-dir',
    a.gitDir,
    'bundle',
    'create',
    '--quiet',
    '-',
    'refs/nightshift/checkpoints/late-reader',
  ]);
  // The reader is late on purpose: a store opening its file or connection does the same.
  await done;
  const chunks: Buffer[] = [];
  for await (const c of stdout) chunks.push(c as Buffer);
  const bundle = Buffer.concat(chunks).toString('latin1');
  assert.match(bundle, /^# v[23] git bundle\n/);
});
