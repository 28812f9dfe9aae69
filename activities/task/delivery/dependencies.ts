/**
 * Dependent tasks see their dependencies' work: before the agent starts, its workspace is
 * moved to its dependency's branch, or to a merge of its dependencies' branches. Branches
 * come from the worker's delivery repository (which holds every delivered branch, pushed
 * or not), else from the remote.
 *
 * Like prepareWorkspace, this is the orchestrator's git, before the agent has written
 * anything: the worker's own git on a local workspace; on a remote one, the sandbox's git
 * with pinned config, fed the dependencies' commits as a bundle the worker makes from its
 * delivery repository (so no credential enters the sandbox). Idempotent: when HEAD already
 * contains every dependency's commit (or all but the one whose conflicting merge was left
 * to the agent) there is nothing left to do.
 */
import { ApplicationFailure } from '@temporalio/common';
import {
  objectIdOf,
  sandboxGit,
  sendFile,
  shq,
  transferName,
  withTempBundle,
  runInSandbox,
} from '../../../sandbox/remote-workspace';
import type { Sandbox } from '../../../sandbox/types';
import { git, hostWorkspaceOf } from '../../../sandbox/workspace';
import type { MergeConflictPolicy } from '../../../taskfile/types';
import type { DependencyBranch } from '../../../workflows/task/messages';
import { ensureDeliveryRepo } from './git';
import type { LeftConflict } from './merge-conflict';
import { FailureType } from '../../../common/errors';

/** Git in the task's workspace: the worker's own on a local one, the sandbox's on a remote one. */
type WorkspaceGit = (args: string[]) => Promise<string>;

const has = (run: WorkspaceGit, commit: string) =>
  run(['cat-file', '-e', `${commit}^{commit}`]).then(
    () => true,
    () => false,
  );
const isAncestor = (run: WorkspaceGit, a: string, b: string) =>
  run(['merge-base', '--is-ancestor', a, b]).then(
    () => true,
    () => false,
  );

/** Brings each dependency's commit into a local workspace under `refs/remotes/nightshift/<branch>` (so the delivery bundle leaves it out). */
async function fetchDependency(
  dir: string,
  dep: DependencyBranch,
  deliveryRepo: string,
  authEnv: Record<string, string>,
): Promise<void> {
  const run: WorkspaceGit = (args) => git(args, { cwd: dir });
  const ref = `refs/remotes/nightshift/${dep.branch}`;
  if (!(await has(run, dep.commit))) {
    await git(['fetch', '--quiet', '--no-tags', deliveryRepo, `+refs/heads/${dep.branch}:${ref}`], { cwd: dir }).catch(
      () => undefined,
    );
  }
  if (!(await has(run, dep.commit)) && dep.pushed) {
    await git(['fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${dep.branch}:${ref}`], {
      cwd: dir,
      env: authEnv,
    }).catch(() => undefined);
  }
  if (!(await has(run, dep.commit))) throw notFound(dep);
  await git(['update-ref', ref, dep.commit], { cwd: dir });
}

const notFound = (dep: DependencyBranch) =>
  ApplicationFailure.retryable(
    `the branch ${dep.branch} of dependency ${dep.taskId} (commit ${dep.commit.slice(0, 12)}) is in neither the delivery repository nor the remote`,
    FailureType.DeliveryFailed,
  );

/**
 * The same for a remote workspace: the worker makes sure its delivery repository holds the
 * commit (fetching the remote with its credentials if the branch was pushed), bundles it
 * without what the workspace's HEAD already holds, and the sandbox's git fetches the bundle.
 */
async function sendDependency(
  sandbox: Sandbox,
  run: WorkspaceGit,
  dep: DependencyBranch,
  deliveryRepo: string,
  remote: string,
  authEnv: Record<string, string>,
): Promise<void> {
  const ref = `refs/remotes/nightshift/${dep.branch}`;
  if (!(await has(run, dep.commit))) {
    const inRepo = () =>
      git(['--git-dir', deliveryRepo, 'cat-file', '-e', `${dep.commit}^{commit}`]).then(
        () => true,
        () => false,
      );
    if (!(await inRepo()) && dep.pushed) {
      await ensureDeliveryRepo(deliveryRepo);
      await git(
        [
          '--git-dir',
          deliveryRepo,
          'fetch',
          '--quiet',
          '--no-tags',
          remote,
          `+refs/heads/${dep.branch}:refs/remotes/origin/${dep.branch}`,
        ],
        { env: authEnv },
      ).catch(() => undefined);
    }
    if (!(await inRepo())) throw notFound(dep);
    const head = objectIdOf(await run(['rev-parse', 'HEAD']));
    const thin = head
      ? await git(['--git-dir', deliveryRepo, 'cat-file', '-e', `${head}^{commit}`]).then(
          () => true,
          () => false,
        )
      : false;
    // A bundle carries refs, not bare commits: a ref of its own, gone again after.
    const outgoing = `refs/nightshift/outgoing/${transferName('dep').slice(1, -7)}`;
    await git(['--git-dir', deliveryRepo, 'update-ref', outgoing, dep.commit]);
    try {
      await withTempBundle(async (file) => {
        await git([
          '--git-dir',
          deliveryRepo,
          'bundle',
          'create',
          '--quiet',
          file,
          outgoing,
          ...(thin ? [`^${head}`] : []),
        ]);
        const bundle = transferName('dependency');
        await sendFile(sandbox, file, bundle);
        await runInSandbox(
          sandbox,
          `trap 'rm -f ${shq(bundle)}' EXIT
git fetch -q --no-tags ${shq(bundle)} ${shq(`+${outgoing}:${ref}`)}`,
          `fetching dependency ${dep.taskId}'s branch`,
        );
      });
    } finally {
      await git(['--git-dir', deliveryRepo, 'update-ref', '-d', outgoing]).catch(() => undefined);
    }
  }
  if (!(await has(run, dep.commit))) throw notFound(dep);
  await run(['update-ref', ref, dep.commit]);
}

const unmergedFiles = async (run: WorkspaceGit) =>
  (await run(['diff', '--name-only', '--diff-filter=U'])).split('\n').filter(Boolean);

/**
 * @returns `conflict` when a merge was left in progress for the agent (`onConflict: 'agent'`):
 * every other dependency is merged into HEAD and this one is MERGE_HEAD.
 */
export async function startFromDependencies(
  sandbox: Sandbox,
  o: {
    taskId: string;
    workBranch: string;
    dependencies: DependencyBranch[];
    deliveryRepo: string;
    remote: string;
    authEnv: Record<string, string>;
    onConflict?: MergeConflictPolicy;
  },
): Promise<{ head: string; merged: boolean; conflict?: LeftConflict }> {
  const hostDir = hostWorkspaceOf(sandbox);
  const run: WorkspaceGit = hostDir !== undefined ? (args) => git(args, { cwd: hostDir }) : sandboxGit(sandbox);
  const deps = o.dependencies;
  const agent = o.onConflict === 'agent';
  for (const d of deps) {
    if (hostDir !== undefined) await fetchDependency(hostDir, d, o.deliveryRepo, o.authEnv);
    else await sendDependency(sandbox, run, d, o.deliveryRepo, o.remote, o.authEnv);
  }
  const head = () => run(['rev-parse', 'HEAD']);
  const leftFor = async (d: DependencyBranch): Promise<LeftConflict> => ({
    taskId: d.taskId,
    branch: d.branch,
    commit: d.commit,
    into: deps.filter((x) => x !== d).map((x) => x.taskId),
    files: await unmergedFiles(run),
  });

  const mergeHead = await run(['rev-parse', '--verify', '--quiet', 'MERGE_HEAD']).catch(() => '');
  if (mergeHead) {
    // A retry finds the merge an earlier attempt left for the agent: done when the rest is in HEAD.
    const pending = deps.find((d) => d.commit === mergeHead);
    const rest = await Promise.all(
      deps.filter((d) => d !== pending).map(async (d) => isAncestor(run, d.commit, await head())),
    );
    if (agent && pending && rest.every(Boolean))
      return { head: await head(), merged: true, conflict: await leftFor(pending) };
    await run(['merge', '--abort']).catch(() => undefined);
  }
  const done = await Promise.all(deps.map(async (d) => isAncestor(run, d.commit, await head())));
  if (done.every(Boolean)) return { head: await head(), merged: deps.length > 1 };

  const merge = (d: DependencyBranch) =>
    run([
      'merge',
      '--quiet',
      '--no-ff',
      '--no-edit',
      '-m',
      `nightshift: merge ${d.taskId} (${d.branch}) for ${o.taskId}`,
      d.commit,
    ]).then(
      () => true,
      () => false,
    );
  await run(['checkout', '--quiet', '-f', '-B', o.workBranch, deps[0].commit]);
  const conflicting: { dep: DependencyBranch; files: string[] }[] = [];
  for (const d of deps.slice(1)) {
    if (await isAncestor(run, d.commit, await head())) continue;
    if (await merge(d)) continue;
    const files = await unmergedFiles(run);
    await run(['merge', '--abort']).catch(() => undefined);
    if (agent) {
      // The clean merges go first; the conflicting one is merged last and left to the agent.
      conflicting.push({ dep: d, files });
      continue;
    }
    const others = deps
      .slice(0, deps.indexOf(d))
      .map((x) => x.taskId)
      .join(', ');
    throw ApplicationFailure.nonRetryable(
      `the branches of its dependencies conflict: merging ${d.taskId} (${d.branch}) into ${others} conflicts in ${files.join(', ') || 'files git did not name'}; resolve the conflict by hand, make one dependency depend on the other, or set on_merge_conflict: agent`,
      FailureType.MergeConflict,
    );
  }
  if (conflicting.length > 1) {
    const each = conflicting
      .map((c) => `${c.dep.taskId} (${c.dep.branch}) in ${c.files.join(', ') || 'files git did not name'}`)
      .join('; ');
    throw ApplicationFailure.nonRetryable(
      `the branches of its dependencies conflict: ${each}; on_merge_conflict: agent leaves one conflicting merge to the agent, not ${conflicting.length}: resolve the others by hand, or make the dependencies depend on each other`,
      FailureType.MergeConflict,
    );
  }
  const [left] = conflicting;
  if (left && !(await merge(left.dep))) {
    if (!(await run(['rev-parse', '--verify', '--quiet', 'MERGE_HEAD']).catch(() => ''))) {
      throw ApplicationFailure.nonRetryable(
        `merging ${left.dep.taskId} (${left.dep.branch}) failed without leaving a merge to resolve`,
        FailureType.MergeConflict,
      );
    }
    return { head: await head(), merged: true, conflict: await leftFor(left.dep) };
  }
  return { head: await head(), merged: deps.length > 1 };
}
