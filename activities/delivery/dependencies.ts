/**
 * Dependent tasks see their dependencies' work: before the agent starts, its workspace is
 * moved to its dependency's branch, or to a merge of its dependencies' branches. Branches
 * come from the worker's delivery repository (which holds every delivered branch, pushed
 * or not), else from the remote.
 *
 * Like prepareWorkspace, this is the orchestrator's git on a local workspace, before the
 * agent has written anything. Idempotent: when HEAD already contains every dependency's
 * commit (or all but the one whose conflicting merge was left to the agent) there is
 * nothing left to do.
 */
import { ApplicationFailure } from '@temporalio/common';
import { LocalSandbox } from '../../sandbox/local';
import type { Sandbox } from '../../sandbox/types';
import { git } from '../../sandbox/workspace';
import type { MergeConflictPolicy } from '../../spec/types';
import type { DependencyBranch } from '../../workflows/contract';
import type { LeftConflict } from './merge-conflict';

const has = (dir: string, commit: string) => git(['cat-file', '-e', `${commit}^{commit}`], { cwd: dir }).then(() => true, () => false);
const isAncestor = (dir: string, a: string, b: string) => git(['merge-base', '--is-ancestor', a, b], { cwd: dir }).then(() => true, () => false);

export function workspaceDirOf(sandbox: Sandbox): string {
  if (sandbox instanceof LocalSandbox) return sandbox.workspaceDir;
  throw ApplicationFailure.nonRetryable(`starting from dependencies' branches needs a local workspace; ${sandbox.constructor.name} sandboxes are not supported yet`, 'DeliveryUnsupported');
}

/** Brings each dependency's commit into the workspace under `refs/remotes/nightshift/<branch>` (so the delivery bundle leaves it out). */
async function fetchDependency(dir: string, dep: DependencyBranch, deliveryRepo: string, authEnv: Record<string, string>): Promise<void> {
  const ref = `refs/remotes/nightshift/${dep.branch}`;
  if (!(await has(dir, dep.commit))) {
    await git(['fetch', '--quiet', '--no-tags', deliveryRepo, `+refs/heads/${dep.branch}:${ref}`], { cwd: dir }).catch(() => undefined);
  }
  if (!(await has(dir, dep.commit)) && dep.pushed) {
    await git(['fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${dep.branch}:${ref}`], { cwd: dir, env: authEnv }).catch(() => undefined);
  }
  if (!(await has(dir, dep.commit))) {
    throw ApplicationFailure.retryable(`the branch ${dep.branch} of dependency ${dep.taskId} (commit ${dep.commit.slice(0, 12)}) is in neither the delivery repository nor the remote`, 'DeliveryFailed');
  }
  await git(['update-ref', ref, dep.commit], { cwd: dir });
}

const unmergedFiles = async (dir: string) => (await git(['diff', '--name-only', '--diff-filter=U'], { cwd: dir })).split('\n').filter(Boolean);

/**
 * @returns `conflict` when a merge was left in progress for the agent (`onConflict: 'agent'`):
 * every other dependency is merged into HEAD and this one is MERGE_HEAD.
 */
export async function startFromDependencies(
  sandbox: Sandbox,
  o: { taskId: string; workBranch: string; dependencies: DependencyBranch[]; deliveryRepo: string; authEnv: Record<string, string>; onConflict?: MergeConflictPolicy },
): Promise<{ head: string; merged: boolean; conflict?: LeftConflict }> {
  const dir = workspaceDirOf(sandbox);
  const deps = o.dependencies;
  const agent = o.onConflict === 'agent';
  for (const d of deps) await fetchDependency(dir, d, o.deliveryRepo, o.authEnv);
  const head = () => git(['rev-parse', 'HEAD'], { cwd: dir });
  const leftFor = async (d: DependencyBranch): Promise<LeftConflict> => ({
    taskId: d.taskId,
    branch: d.branch,
    commit: d.commit,
    into: deps.filter((x) => x !== d).map((x) => x.taskId),
    files: await unmergedFiles(dir),
  });

  const mergeHead = await git(['rev-parse', '--verify', '--quiet', 'MERGE_HEAD'], { cwd: dir }).catch(() => '');
  if (mergeHead) {
    // A retry finds the merge an earlier attempt left for the agent: done when the rest is in HEAD.
    const pending = deps.find((d) => d.commit === mergeHead);
    const rest = await Promise.all(deps.filter((d) => d !== pending).map(async (d) => isAncestor(dir, d.commit, await head())));
    if (agent && pending && rest.every(Boolean)) return { head: await head(), merged: true, conflict: await leftFor(pending) };
    await git(['merge', '--abort'], { cwd: dir }).catch(() => undefined);
  }
  const done = await Promise.all(deps.map(async (d) => isAncestor(dir, d.commit, await head())));
  if (done.every(Boolean)) return { head: await head(), merged: deps.length > 1 };

  const merge = (d: DependencyBranch) =>
    git(['merge', '--quiet', '--no-ff', '--no-edit', '-m', `nightshift: merge ${d.taskId} (${d.branch}) for ${o.taskId}`, d.commit], { cwd: dir }).then(
      () => true,
      () => false,
    );
  await git(['checkout', '--quiet', '-f', '-B', o.workBranch, deps[0].commit], { cwd: dir });
  const conflicting: { dep: DependencyBranch; files: string[] }[] = [];
  for (const d of deps.slice(1)) {
    if (await isAncestor(dir, d.commit, await head())) continue;
    if (await merge(d)) continue;
    const files = await unmergedFiles(dir);
    await git(['merge', '--abort'], { cwd: dir }).catch(() => undefined);
    if (agent) {
      // The clean merges go first; the conflicting one is merged last and left to the agent.
      conflicting.push({ dep: d, files });
      continue;
    }
    const others = deps.slice(0, deps.indexOf(d)).map((x) => x.taskId).join(', ');
    throw ApplicationFailure.nonRetryable(
      `the branches of its dependencies conflict: merging ${d.taskId} (${d.branch}) into ${others} conflicts in ${files.join(', ') || 'files git did not name'}; resolve the conflict by hand, make one dependency depend on the other, or set on_merge_conflict: agent`,
      'MergeConflict',
    );
  }
  if (conflicting.length > 1) {
    const each = conflicting.map((c) => `${c.dep.taskId} (${c.dep.branch}) in ${c.files.join(', ') || 'files git did not name'}`).join('; ');
    throw ApplicationFailure.nonRetryable(
      `the branches of its dependencies conflict: ${each}; on_merge_conflict: agent leaves one conflicting merge to the agent, not ${conflicting.length}: resolve the others by hand, or make the dependencies depend on each other`,
      'MergeConflict',
    );
  }
  const [left] = conflicting;
  if (left && !(await merge(left.dep))) {
    if (!(await git(['rev-parse', '--verify', '--quiet', 'MERGE_HEAD'], { cwd: dir }).catch(() => ''))) {
      throw ApplicationFailure.nonRetryable(`merging ${left.dep.taskId} (${left.dep.branch}) failed without leaving a merge to resolve`, 'MergeConflict');
    }
    return { head: await head(), merged: true, conflict: await leftFor(left.dep) };
  }
  return { head: await head(), merged: deps.length > 1 };
}
