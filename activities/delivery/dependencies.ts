/**
 * Dependent tasks see their dependencies' work: before the agent starts, its workspace is
 * moved to its dependency's branch, or to a merge of its dependencies' branches. Branches
 * come from the worker's delivery repository (which holds every delivered branch, pushed
 * or not), else from the remote.
 *
 * Like prepareWorkspace, this is the orchestrator's git on a local workspace, before the
 * agent has written anything. Idempotent: when HEAD already contains every dependency's
 * commit there is nothing left to do.
 */
import { ApplicationFailure } from '@temporalio/common';
import { LocalSandbox } from '../../sandbox/local';
import type { Sandbox } from '../../sandbox/types';
import { git } from '../../sandbox/workspace';
import type { DependencyBranch } from '../../workflows/contract';

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

export async function startFromDependencies(
  sandbox: Sandbox,
  o: { taskId: string; workBranch: string; dependencies: DependencyBranch[]; deliveryRepo: string; authEnv: Record<string, string> },
): Promise<{ head: string; merged: boolean }> {
  const dir = workspaceDirOf(sandbox);
  const deps = o.dependencies;
  for (const d of deps) await fetchDependency(dir, d, o.deliveryRepo, o.authEnv);
  const head = () => git(['rev-parse', 'HEAD'], { cwd: dir });
  const done = await Promise.all(deps.map(async (d) => isAncestor(dir, d.commit, await head())));
  if (done.every(Boolean)) return { head: await head(), merged: deps.length > 1 };

  await git(['checkout', '--quiet', '-f', '-B', o.workBranch, deps[0].commit], { cwd: dir });
  for (const d of deps.slice(1)) {
    if (await isAncestor(dir, d.commit, await head())) continue;
    const merged = await git(['merge', '--quiet', '--no-ff', '--no-edit', '-m', `nightshift: merge ${d.taskId} (${d.branch}) for ${o.taskId}`, d.commit], { cwd: dir }).then(
      () => true,
      () => false,
    );
    if (merged) continue;
    const files = (await git(['diff', '--name-only', '--diff-filter=U'], { cwd: dir })).split('\n').filter(Boolean);
    await git(['merge', '--abort'], { cwd: dir }).catch(() => undefined);
    const others = deps.slice(0, deps.indexOf(d)).map((x) => x.taskId).join(', ');
    throw ApplicationFailure.nonRetryable(
      `the branches of its dependencies conflict: merging ${d.taskId} (${d.branch}) into ${others} conflicts in ${files.join(', ') || 'files git did not name'}; resolve the conflict by hand, or make one dependency depend on the other`,
      'MergeConflict',
    );
  }
  return { head: await head(), merged: deps.length > 1 };
}
