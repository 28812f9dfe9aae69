/**
 * Copies workspace checkpoints between this worker's checkpoints.git and a state store that
 * other hosts share, as git bundles streamed in chunks. A task whose host died is rebuilt
 * on another host from the last checkpoint any host exported.
 *
 * Per task the store holds the bundle of its base commit's history (once: the clone it
 * started from), one bundle per checkpoint with only what the checkpoint adds to that
 * base, and `latest.json` naming the newest checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { StateStore } from '../common/store';
import { ensureCheckpointStore, git, gitStream } from './workspace';

interface LatestCheckpoint {
  commit: string;
  /** The workspace HEAD it builds on, whose history is in its own bundle. */
  base?: string;
}

const LATEST = 'latest.json';
const baseBundle = (sha: string) => `base-${sha}.bundle`;
const checkpointBundle = (sha: string) => `checkpoint-${sha}.bundle`;
const baseRef = (sha: string) => `refs/nightshift/bases/${sha}`;

async function revParse(gitDir: string, rev: string): Promise<string | undefined> {
  return (await git(['--git-dir', gitDir, 'rev-parse', '--verify', '--quiet', rev]).catch(() => '')) || undefined;
}

async function hasBlob(store: StateStore, workflowId: string, key: string): Promise<boolean> {
  const s = await store.getBlob('checkpoints', workflowId, key);
  s?.destroy();
  return s !== undefined;
}

/** Streams `git bundle create - <revs>` into the store under `key` (insert-if-absent). */
async function storeBundle(
  store: StateStore,
  gitDir: string,
  workflowId: string,
  key: string,
  revs: string[],
): Promise<void> {
  const { stdout, done } = gitStream(['--git-dir', gitDir, 'bundle', 'create', '--quiet', '-', ...revs]);
  // A store that fails stops reading: git must then see a closed pipe and exit rather than wait.
  const put = store.putBlob('checkpoints', workflowId, key, stdout).catch((err: unknown) => {
    stdout.destroy();
    throw err;
  });
  const failed = (await Promise.allSettled([put, done])).find(
    (r): r is PromiseRejectedResult => r.status === 'rejected',
  );
  if (failed) throw failed.reason;
}

/** Exports the checkpoint at `ref` unless the store already has it as the task's latest. */
export async function exportCheckpoint(
  store: StateStore,
  gitDir: string,
  workflowId: string,
  ref: string,
): Promise<void> {
  const commit = await revParse(gitDir, `${ref}^{commit}`);
  if (!commit) return;
  const latestText = await store.get('checkpoints', workflowId, LATEST);
  if (latestText && (JSON.parse(latestText) as LatestCheckpoint).commit === commit) return;
  const parents = (await git(['--git-dir', gitDir, 'rev-list', '--parents', '-n', '1', commit])).split(' ').slice(1);
  const base = parents[0];
  if (base && !(await hasBlob(store, workflowId, baseBundle(base)))) {
    // A bundle names refs: this one exists for the base's bundle alone.
    await git(['--git-dir', gitDir, 'update-ref', baseRef(base), base]);
    await storeBundle(store, gitDir, workflowId, baseBundle(base), [baseRef(base)]);
  }
  await storeBundle(store, gitDir, workflowId, checkpointBundle(commit), [ref, ...(base ? [`^${base}`] : [])]);
  // Last: a latest.json found means its bundles are there.
  await store.put(
    'checkpoints',
    workflowId,
    LATEST,
    JSON.stringify({ commit, ...(base ? { base } : {}) } satisfies LatestCheckpoint),
  );
}

/** Fetches a stored bundle's `ref` into `gitDir`; the bundle passes through a temp file, never memory. */
async function fetchBundle(
  store: StateStore,
  gitDir: string,
  workflowId: string,
  key: string,
  ref: string,
): Promise<void> {
  const blob = await store.getBlob('checkpoints', workflowId, key);
  if (!blob)
    throw new Error(`checkpoint bundle ${key} of ${workflowId} is missing from the state store (${store.location})`);
  const tmp = path.join(os.tmpdir(), `nightshift-bundle-${randomBytes(6).toString('hex')}.bundle`);
  try {
    await pipeline(blob, createWriteStream(tmp));
    await git(['--git-dir', gitDir, 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', tmp, `+${ref}:${ref}`]);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Brings the task's newest checkpoint from the store into `gitDir` at `ref`, when the store
 * has one this host lacks. @returns true if `ref` now holds the store's latest checkpoint.
 */
export async function importCheckpoint(
  store: StateStore,
  gitDir: string,
  workflowId: string,
  ref: string,
): Promise<boolean> {
  const latestText = await store.get('checkpoints', workflowId, LATEST);
  if (!latestText) return false;
  const latest = JSON.parse(latestText) as LatestCheckpoint;
  await ensureCheckpointStore(gitDir);
  if ((await revParse(gitDir, `${ref}^{commit}`)) === latest.commit) return true;
  if (latest.base && !(await revParse(gitDir, `${latest.base}^{commit}`)))
    await fetchBundle(store, gitDir, workflowId, baseBundle(latest.base), baseRef(latest.base));
  await fetchBundle(store, gitDir, workflowId, checkpointBundle(latest.commit), ref);
  return (await revParse(gitDir, `${ref}^{commit}`)) === latest.commit;
}
