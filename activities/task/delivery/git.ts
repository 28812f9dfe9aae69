/**
 * The worker's side of delivery: a bare "delivery repository" per remote under
 * `<root>/.nightshift/delivery/`, which receives each task's bundle from its sandbox, keeps
 * every delivered branch (pushed or not, so dependent tasks can start from it), and
 * pushes with the worker's credentials. The token lives only in the environment of the
 * worker's own git process: never in the sandbox, a URL, a command line or `.git/config`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { stateDir, type NightshiftConfig } from '../../../common/config';
import { repoLocation } from '../../../common/repo-location';
import { git } from '../../../sandbox/workspace';
import { FailureType } from '../../../common/errors';

/** A task's repo as git understands it: a URL, scp-style address, or an absolute local path (common/repo-location.ts). */
export function resolveRemote(root: string, repo: string): string {
  return repoLocation(root, repo);
}

export const isLocalRemote = (remote: string) => path.isAbsolute(remote);

export function deliveryRepoFor(config: Pick<NightshiftConfig, 'root'>, remote: string): string {
  const slug = remote
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(-60);
  return path.join(
    stateDir(config),
    'delivery',
    `${slug}-${createHash('sha256').update(remote).digest('hex').slice(0, 10)}.git`,
  );
}

/**
 * Environment for git talking to `remote`: for an https remote with a token, an
 * Authorization header scoped to that host (as actions/checkout does), set through
 * GIT_CONFIG_* so it appears in no argument list and no file.
 */
export function authEnv(remote: string, token: string | undefined): Record<string, string> {
  if (!token || !/^https:\/\//i.test(remote)) return {};
  const origin = new URL(remote).origin;
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${origin}/.extraheader`,
    GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`,
  };
}

/** How the worker can push to `remote`, or why it cannot. */
export function pushAccess(remote: string, token: string | undefined): { ok: true } | { ok: false; reason: string } {
  if (isLocalRemote(remote))
    return existsSync(remote) ? { ok: true } : { ok: false, reason: `the remote ${remote} does not exist` };
  if (/^https:\/\//i.test(remote) && !token)
    return { ok: false, reason: 'no GITHUB_TOKEN in the worker environment to push with' };
  if (/^(git|http):\/\//i.test(remote))
    return { ok: false, reason: `will not push over an unauthenticated protocol (${remote.split(':')[0]})` };
  return { ok: true };
}

/** One git operation at a time per delivery repository in this process (their ref locks would collide). */
const locks = new Map<string, Promise<unknown>>();
export function withRepoLock<T>(repoDir: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(repoDir) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  locks.set(repoDir, next);
  return next.finally(() => {
    if (locks.get(repoDir) === next) locks.delete(repoDir);
  });
}

export async function ensureDeliveryRepo(repoDir: string): Promise<void> {
  if (existsSync(path.join(repoDir, 'HEAD'))) return;
  await fs.mkdir(path.dirname(repoDir), { recursive: true });
  const staging = `${repoDir}.${randomBytes(4).toString('hex')}.tmp`;
  await git(['init', '--bare', '--quiet', staging]);
  await git(['--git-dir', staging, 'config', 'gc.auto', '0']);
  await fs.rename(staging, repoDir).catch(async (err: NodeJS.ErrnoException) => {
    await fs.rm(staging, { recursive: true, force: true });
    if (!['EEXIST', 'ENOTEMPTY'].includes(err.code ?? '')) throw err;
  });
}

/**
 * Stores `bundle` in the delivery repository as `refs/heads/<branch>` and checks it holds
 * `commit`. @returns 'missing-prerequisites' when the bundle is thin and the repository
 * lacks its base even after fetching the remote: the caller asks for a full bundle.
 */
export async function importBundle(
  repoDir: string,
  o: { bundle: Uint8Array; branch: string; commit: string; remote: string; token?: string },
): Promise<'ok' | 'missing-prerequisites'> {
  const file = path.join(path.dirname(repoDir), `${path.basename(repoDir)}.${randomBytes(6).toString('hex')}.bundle`);
  await fs.writeFile(file, o.bundle);
  try {
    return await withRepoLock(repoDir, async () => {
      const verify = () =>
        git(['--git-dir', repoDir, 'bundle', 'verify', '-q', file]).then(
          () => true,
          () => false,
        );
      if (!(await verify())) {
        // A thin bundle's base is on the remote: fetch it once, then try again.
        await git(
          ['--git-dir', repoDir, 'fetch', '--quiet', '--no-tags', o.remote, '+refs/heads/*:refs/remotes/origin/*'],
          { env: authEnv(o.remote, o.token) },
        ).catch(() => undefined);
        if (!(await verify())) return 'missing-prerequisites';
      }
      await git([
        '--git-dir',
        repoDir,
        'fetch',
        '--quiet',
        '--no-tags',
        file,
        `+refs/heads/${o.branch}:refs/heads/${o.branch}`,
      ]);
      const got = await git(['--git-dir', repoDir, 'rev-parse', `refs/heads/${o.branch}`]);
      if (got !== o.commit)
        throw ApplicationFailure.retryable(`the bundle held ${got}, not ${o.commit}`, FailureType.DeliveryFailed);
      return 'ok';
    });
  } finally {
    await fs.rm(file, { force: true });
  }
}

/** The commit `refs/heads/<branch>` points at on `remote`, or undefined when it has none. */
export async function remoteBranchCommit(remote: string, branch: string, token?: string): Promise<string | undefined> {
  const out = await git(['ls-remote', remote, `refs/heads/${branch}`], { env: authEnv(remote, token) });
  return out
    .split('\n')
    .find((l) => l.endsWith(`\trefs/heads/${branch}`))
    ?.split('\t')[0];
}

/** What every ref on `remote` points at: the objects a push there need not send. */
export async function remoteTips(remote: string, token?: string): Promise<string[]> {
  const out = await git(['ls-remote', remote], { env: authEnv(remote, token) });
  return [
    ...new Set(
      out
        .split('\n')
        .map((l) => l.split('\t')[0])
        .filter(Boolean),
    ),
  ];
}

/** Where the delivery repository records the last commit it pushed to `branch` (the lease of the next push). */
export const pushedRef = (branch: string) => `refs/nightshift/pushed/${branch}`;

/**
 * Pushes `commit` to `refs/heads/<branch>` on `remote` and reads the ref back: a push that
 * hung or lied is an error (retried), never a silent success. The branch belongs to one
 * task of one batch (workflows/branches.ts deliveryBranch): the push replaces only what this
 * delivery repository pushed there before (a rerun's earlier work), with a lease on it.
 * A branch holding anything else (a person's commits, another worker's) is left as it
 * is, and `pushed: false` says why.
 */
export async function pushBranch(
  repoDir: string,
  o: { remote: string; branch: string; commit: string; token?: string; fastForwardOnly?: boolean },
): Promise<{ pushed: true } | { pushed: false; reason: string }> {
  const env = authEnv(o.remote, o.token);
  const record = () =>
    withRepoLock(repoDir, () => git(['--git-dir', repoDir, 'update-ref', pushedRef(o.branch), o.commit]));
  if (o.fastForwardOnly) return fastForward(repoDir, { ...o, env }, record);
  const taken = (at: string) => ({
    pushed: false as const,
    reason: `${o.branch} on the remote is at ${at.slice(0, 12)}, which this task did not push; it was left as it is`,
  });
  const before = await remoteBranchCommit(o.remote, o.branch, o.token);
  if (before === o.commit) {
    await record();
    return { pushed: true };
  }
  const ours = await git(['--git-dir', repoDir, 'rev-parse', '--verify', '--quiet', pushedRef(o.branch)]).catch(
    () => undefined,
  );
  if (before !== undefined && before !== ours) return taken(before);
  // The lease: the remote ref must still be what was read above (absent, or this task's last push).
  const lease = `--force-with-lease=refs/heads/${o.branch}:${before ?? ''}`;
  const pushing = await withRepoLock(repoDir, () =>
    git(
      ['--git-dir', repoDir, 'push', '--quiet', lease, '--no-verify', o.remote, `${o.commit}:refs/heads/${o.branch}`],
      { env },
    ),
  ).then(
    () => undefined,
    (err: Error) => err,
  );
  const now = await remoteBranchCommit(o.remote, o.branch, o.token);
  if (now === o.commit) {
    await record();
    return { pushed: true };
  }
  if (pushing) {
    // Someone pushed between the read and the push: the lease held, and their commits stand.
    if (now !== undefined && now !== ours) return taken(now);
    throw pushing;
  }
  throw ApplicationFailure.retryable(
    `pushed ${o.branch} but the remote reports ${now ?? 'no such branch'} instead of ${o.commit}`,
    FailureType.DeliveryFailed,
  );
}

/**
 * A follow-up's push to a branch that is already a PR: a plain push, which the remote
 * accepts only as a fast-forward, so commits others added to the branch meanwhile are
 * never replaced; the branch is then left as it is and `pushed: false` says why.
 */
async function fastForward(
  repoDir: string,
  o: { remote: string; branch: string; commit: string; token?: string; env: Record<string, string> },
  record: () => Promise<unknown>,
): Promise<{ pushed: true } | { pushed: false; reason: string }> {
  if ((await remoteBranchCommit(o.remote, o.branch, o.token)) !== o.commit) {
    const refused = await withRepoLock(repoDir, () =>
      git(['--git-dir', repoDir, 'push', '--quiet', '--no-verify', o.remote, `${o.commit}:refs/heads/${o.branch}`], {
        env: o.env,
      }),
    ).then(
      () => undefined,
      (err: Error) => err,
    );
    const now = await remoteBranchCommit(o.remote, o.branch, o.token);
    if (now !== o.commit) {
      if (refused && /\[rejected\]|non-fast-forward|fetch first/.test(refused.message)) {
        return {
          pushed: false,
          reason: `${o.branch} on the remote moved to ${now?.slice(0, 12) ?? 'nothing'}, which this task did not start from; its commits were left as they are`,
        };
      }
      throw (
        refused ??
        ApplicationFailure.retryable(
          `pushed ${o.branch} but the remote reports ${now ?? 'no such branch'} instead of ${o.commit}`,
          FailureType.DeliveryFailed,
        )
      );
    }
  }
  await record();
  return { pushed: true };
}
