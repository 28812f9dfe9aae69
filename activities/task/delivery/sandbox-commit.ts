/**
 * The orchestrator's commit, made inside the sandbox through `exec` and `readFile` only, so
 * it works the same on every provider. The workspace's own `.git` is never written (the
 * local provider mounts it read-only, and review-first mode promises nothing is committed):
 * a throwaway repository in the sandbox's tmp borrows the workspace's objects through
 * alternates, commits the working tree there, and writes a bundle (the objects leaving the
 * sandbox) and a patch into the workspace, where `readFile` reaches them.
 *
 * Author and committer dates are given by the workflow, so a retried activity makes the
 * very same commit id and every later step (push, PR) sees nothing new.
 *
 * The agent owns the sandbox's HOME and tmp, so the script's git reads no configuration
 * there: no system or global file, HOME pointing nowhere, attributes file and hooks off.
 * A filter planted in `$HOME/.gitconfig` cannot rewrite files as they are committed. And
 * when the workflow names the tree the checks ran on, any other tree is not committed.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../../common/errors';
import { LocalSandbox } from '../../../sandbox/local';
import type { Sandbox } from '../../../sandbox/types';
import { sandboxGitEnv } from '../../../sandbox/remote-workspace';
import {
  DELIVERY_BUNDLE_FILE,
  DELIVERY_FILES,
  DELIVERY_PATCH_FILE,
  snapshotWorkTree,
  workerMadeGit,
  WORK_TREE_PATHSPEC,
  type GitIdentity,
} from '../../../sandbox/workspace';

export interface SandboxCommitInput {
  /** Branch name inside the bundle (the delivery branch). */
  branch: string;
  message: string;
  identity: GitIdentity;
  /** Epoch ms; the commit's author and committer date. */
  at: number;
  /** Write a bundle of the new objects (not in review-first mode). */
  bundle: boolean;
  /** Bundle everything, not only what the workspace's remotes lack (when the receiver lacks a prerequisite). */
  fullBundle?: boolean;
  /** The tree the checks ran on: a working tree that differs from it is not committed. */
  expectTree?: string;
}

export interface SandboxCommit {
  /** The start point: the workspace's HEAD, which the agent cannot move. */
  base: string;
  /** The working tree as committed. */
  tree: string;
  /** Undefined when the working tree equals HEAD (and no merge is in progress): nothing to deliver. */
  commit?: string;
  /** The other parents when the commit records a merge left in progress in the workspace. */
  merged?: string[];
  files: string[];
  bundle?: Uint8Array;
  patch?: Uint8Array;
}

const MAX_DELIVERY_FILE_BYTES = 2 * 1024 * 1024 * 1024;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The script's first part: the working tree's tree in a throwaway repository, printed as TREE. */
const TREE_SCRIPT = `set -eu
ws="$PWD"
t="\${TMPDIR:-/tmp}/nightshift-delivery"
rm -rf "$t" ${DELIVERY_FILES.map(q).join(' ')}
mkdir -p "$t"
git init -q --bare "$t/repo.git"
printf '%s\\n' "$ws/.git/objects" > "$t/repo.git/objects/info/alternates"
base=$(git --git-dir="$ws/.git" rev-parse HEAD)
echo "BASE $base"
export GIT_DIR="$t/repo.git" GIT_WORK_TREE="$ws" GIT_INDEX_FILE="$t/index"
# Start from HEAD's index so tracked files that match .gitignore stay tracked.
git read-tree "$base"
# A nested repository without a commit is left out (as the worker's checkpoint does); any other error stops.
if ! git add -A --ignore-errors -- ${WORK_TREE_PATHSPEC.map(q).join(' ')} 2>"$t/add-errors"; then
  if grep -v -e 'does not have a commit checked out$' -e '^fatal: adding files failed$' "$t/add-errors" >&2; then exit 1; fi
fi
tree=$(git write-tree)
echo "TREE $tree"
`;

function script(i: SandboxCommitInput): string {
  const ref = `refs/heads/${i.branch}`;
  return `${TREE_SCRIPT}${i.expectTree ? `if [ "$tree" != ${q(i.expectTree)} ]; then echo "TREE_CHANGED"; exit 0; fi\n` : ''}# A merge the orchestrator left for the agent (on_merge_conflict: agent) is recorded as one.
parents="-p $base"
merging=""
if [ -f "$ws/.git/MERGE_HEAD" ]; then
  for m in $(cat "$ws/.git/MERGE_HEAD"); do parents="$parents -p $m"; merging="$merging $m"; echo "MERGING $m"; done
fi
if [ -z "$merging" ] && [ "$tree" = "$(git rev-parse "$base^{tree}")" ]; then echo "EMPTY"; exit 0; fi
commit=$(git commit-tree "$tree" $parents -F - <<'NIGHTSHIFT_MSG'
${i.message.replace(/^NIGHTSHIFT_MSG$/gm, 'NIGHTSHIFT_MSG.')}
NIGHTSHIFT_MSG
)
echo "COMMIT $commit"
git update-ref ${q(ref)} "$commit"
git diff-tree -r --no-commit-id --name-only -z "$base" "$commit" | tr '\\0' '\\n' | sed 's/^/FILE /'
if [ -n "$merging" ]; then
  # format-patch skips merges: the change against the first parent, in the same mail format.
  git show --diff-merges=first-parent --format=email --binary "$commit" > ${q(DELIVERY_PATCH_FILE)}
else
  git format-patch -q --stdout --binary -1 "$commit" > ${q(DELIVERY_PATCH_FILE)}
fi
${
  i.bundle
    ? i.fullBundle
      ? `git bundle create -q ${q(DELIVERY_BUNDLE_FILE)} ${q(ref)}`
      : `# Thin: leave out what the workspace's remotes (origin, dependencies) already hold.
git bundle create -q ${q(DELIVERY_BUNDLE_FILE)} ${q(ref)} $(git --git-dir="$ws/.git" for-each-ref --format='^%(objectname)' refs/remotes)`
    : ''
}
echo "DONE"`;
}

/** Environment of the commit script: the pinned git environment, identity and fixed dates. */
function envOf(i: SandboxCommitInput): Record<string, string> {
  const date = `@${Math.floor(i.at / 1000)} +0000`;
  return {
    ...sandboxGitEnv(),
    GIT_AUTHOR_NAME: i.identity.name,
    GIT_AUTHOR_EMAIL: i.identity.email,
    GIT_COMMITTER_NAME: i.identity.name,
    GIT_COMMITTER_EMAIL: i.identity.email,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
  };
}

/**
 * The workspace's tree as the delivery commit would hold it, computed in the sandbox with
 * the same pinned git; for providers whose workspace the worker cannot read itself.
 */
export async function workTreeInSandbox(sandbox: Sandbox): Promise<string> {
  const r = await sandbox.exec(`${TREE_SCRIPT}rm -rf "$t"\n`, { envs: sandboxGitEnv(), timeoutMs: 10 * 60_000 });
  const tree = /^TREE ([0-9a-f]{40,64})$/m.exec(r.stdout)?.[1];
  if (r.exitCode !== 0 || !tree)
    throw ApplicationFailure.retryable(
      `reading the workspace tree in the sandbox failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(-800)}`,
      FailureType.DeliveryFailed,
    );
  return tree;
}

/**
 * The tree the delivery commit would hold: read by the worker's own git through `store`
 * when the workspace is on this host, else computed in the sandbox with pinned config.
 * Undefined for a local workspace cloned before the worker marked its clones (a night
 * running across an upgrade): without its base the worker's tree would not match.
 */
export async function workTreeOf(sandbox: Sandbox, store: string): Promise<string | undefined> {
  if (!(sandbox instanceof LocalSandbox)) return workTreeInSandbox(sandbox);
  if (existsSync(path.join(sandbox.workspaceDir, '.git')) && !workerMadeGit(sandbox)) return undefined;
  return (await snapshotWorkTree(sandbox, store)).tree;
}

/** Commits the workspace's working tree in the sandbox and brings the bundle and patch out. */
export async function commitInSandbox(sandbox: Sandbox, i: SandboxCommitInput): Promise<SandboxCommit> {
  const r = await sandbox.exec(script(i), { envs: envOf(i), timeoutMs: 10 * 60_000 });
  const lines = r.stdout.split('\n');
  const value = (tag: string) =>
    lines
      .find((l) => l.startsWith(`${tag} `))
      ?.slice(tag.length + 1)
      .trim();
  const base = value('BASE');
  if (r.exitCode !== 0 || !base) {
    throw ApplicationFailure.retryable(
      `committing the work in the sandbox failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(-800)}`,
      FailureType.DeliveryFailed,
    );
  }
  const tree = value('TREE') ?? '';
  if (lines.includes('TREE_CHANGED')) {
    throw ApplicationFailure.nonRetryable(
      `the workspace changed after the checks ran (they checked tree ${i.expectTree}, the workspace now holds ${tree}); nothing was delivered`,
      FailureType.CheckedTreeChanged,
    );
  }
  if (lines.includes('EMPTY')) return { base, tree, files: [] };
  if (!lines.includes('DONE'))
    throw ApplicationFailure.retryable(
      `the sandbox commit script stopped early: ${r.stderr.trim().slice(-800)}`,
      FailureType.DeliveryFailed,
    );
  const files = lines.filter((l) => l.startsWith('FILE ')).map((l) => l.slice(5));
  try {
    // The orchestrator wrote these two itself, and a whole repository's bundle can be large.
    const patch = await sandbox.readFile(DELIVERY_PATCH_FILE, { maxBytes: MAX_DELIVERY_FILE_BYTES });
    const bundle = i.bundle
      ? await sandbox.readFile(DELIVERY_BUNDLE_FILE, { maxBytes: MAX_DELIVERY_FILE_BYTES })
      : undefined;
    const merged = lines.filter((l) => l.startsWith('MERGING ')).map((l) => l.slice(8).trim());
    return { base, tree, commit: value('COMMIT'), files, patch, bundle, ...(merged.length ? { merged } : {}) };
  } finally {
    await sandbox.exec(`rm -f ${DELIVERY_FILES.map(q).join(' ')}`);
  }
}
