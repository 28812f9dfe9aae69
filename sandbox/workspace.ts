/**
 * Worker-side git operations on a sandbox's workspace: prepare (clone, identity, context
 * files), checkpoint (commit the workspace state to a ref in a store outside the
 * sandbox) and restore (rebuild a lost workspace from the last checkpoint).
 *
 * These are the orchestrator's operations, not the agent's, so they run outside the
 * sandbox and outside the safety policy. They still distrust the workspace: the agent
 * wrote its files, so hooks and fsmonitor are switched off for every git call here.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalSandbox } from './local';
import { resolveInWorkspace } from './policy';
import type { Sandbox } from './types';

/** Options that keep an agent-written workspace from running code in the worker. */
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'protocol.ext.allow=never'];

export interface GitIdentity {
  name: string;
  email: string;
}

/** @default { name: 'nightshift', email: 'nightshift@localhost' } */
export const DEFAULT_IDENTITY: GitIdentity = { name: 'nightshift', email: 'nightshift@localhost' };

export interface PrepareOptions {
  /** A clone URL or a local path. */
  repo: string;
  /** The branch to work on; created from `base` (or the default branch) when the remote lacks it. */
  branch: string;
  /** Start point when `branch` does not exist yet (a dependency's branch). @default the remote's default branch */
  base?: string;
  /** Files or directories the task expects, relative to the repository root. @default [] */
  contextFiles?: string[];
  /** @default DEFAULT_IDENTITY */
  identity?: GitIdentity;
}

export interface PreparedWorkspace {
  head: string;
  branch: string;
  missingContextFiles: string[];
}

/** Runs git and returns trimmed stdout; throws with git's stderr on failure. */
export async function git(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...SAFE, ...args],
      { cwd: o.cwd, env: { ...gitEnv(), ...o.env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

/** The worker's env minus GIT_* overrides that would point git somewhere else, and no prompts. */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return { ...env, GIT_TERMINAL_PROMPT: '0' };
}

function dirOf(target: string | Sandbox): string {
  if (typeof target === 'string') return target;
  if (target instanceof LocalSandbox) return target.workspaceDir;
  throw new Error(`checkpoints of ${target.constructor.name} sandboxes are not supported yet; only local workspaces`);
}

/**
 * Clones `repo` into the workspace at `branch`, sets the git identity and reports missing
 * context files. Idempotent: an already-cloned workspace is left as it is (a retried
 * activity must not discard work).
 */
export async function prepareWorkspace(target: string | Sandbox, o: PrepareOptions): Promise<PreparedWorkspace> {
  const dir = dirOf(target);
  if (!fs.existsSync(path.join(dir, '.git'))) {
    await fs.promises.mkdir(dir, { recursive: true });
    // --no-hardlinks: a local clone must not share object files with the source repo.
    await git(['clone', '--no-hardlinks', '--quiet', o.repo, dir]);
    const remoteUrl = withoutCredentials(o.repo);
    if (remoteUrl !== o.repo) await git(['remote', 'set-url', 'origin', remoteUrl], { cwd: dir });
    const onRemote = await git(['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${o.branch}`], { cwd: dir }).catch(() => '');
    if (onRemote) await git(['checkout', '--quiet', '-B', o.branch, `origin/${o.branch}`], { cwd: dir });
    else await git(['checkout', '--quiet', '-B', o.branch, ...(o.base ? [`origin/${o.base}`] : [])], { cwd: dir });
    const id = o.identity ?? DEFAULT_IDENTITY;
    await git(['config', 'user.name', id.name], { cwd: dir });
    await git(['config', 'user.email', id.email], { cwd: dir });
  }
  const missingContextFiles = (o.contextFiles ?? []).filter((f) => {
    try {
      return !fs.existsSync(resolveInWorkspace(dir, f));
    } catch {
      return true;
    }
  });
  return {
    head: await git(['rev-parse', 'HEAD'], { cwd: dir }),
    branch: await git(['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: dir }),
    missingContextFiles,
  };
}

/** Strips user:password from an http(s) URL so no token is written into `.git/config`. */
function withoutCredentials(repo: string): string {
  try {
    const u = new URL(repo);
    if (!u.username && !u.password) return repo;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return repo;
  }
}

/** Creates the bare repository that holds checkpoints, if needed. */
export async function ensureCheckpointStore(store: string): Promise<void> {
  if (fs.existsSync(path.join(store, 'HEAD'))) return;
  await fs.promises.mkdir(store, { recursive: true });
  await git(['init', '--bare', '--quiet', store]);
}

/** `refs/nightshift/checkpoints/<key>` with the key made ref-safe. */
export function checkpointRef(key: string): string {
  return `refs/nightshift/checkpoints/${key.replace(/[^A-Za-z0-9._/-]+/g, '-').replace(/\.\.+|\/\/+|\.lock\b/g, '-')}`;
}

/**
 * Commits the workspace as it is (tracked, untracked and deleted files, honouring
 * .gitignore) to `ref` in `store`. The commit's parent is the workspace HEAD, so a
 * restore can put HEAD back and leave the agent's work as uncommitted changes. The
 * workspace's own index and refs are not touched: a temporary index is used.
 * @returns the checkpoint commit id.
 */
export async function checkpoint(target: string | Sandbox, store: string, ref: string, message = 'nightshift checkpoint'): Promise<string> {
  const dir = dirOf(target);
  await ensureCheckpointStore(store);
  const tmpIndex = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-ckpt-')), 'index');
  try {
    const env = { GIT_INDEX_FILE: tmpIndex };
    await git(['add', '-A', '.'], { cwd: dir, env });
    const tree = await git(['write-tree'], { cwd: dir, env });
    const head = await git(['rev-parse', 'HEAD'], { cwd: dir });
    const branch = await git(['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: dir });
    const origin = await git(['remote', 'get-url', 'origin'], { cwd: dir }).catch(() => '');
    const body = `${message}\n\nNightshift-Branch: ${branch}\nNightshift-Origin: ${origin}\n`;
    const commit = await git(['-c', 'user.name=nightshift', '-c', 'user.email=nightshift@localhost', 'commit-tree', tree, '-p', head, '-m', body], { cwd: dir });
    await git(['push', '--quiet', '--force', '--no-verify', store, `${commit}:${ref}`], { cwd: dir });
    return commit;
  } finally {
    fs.rmSync(path.dirname(tmpIndex), { recursive: true, force: true });
  }
}

/**
 * Rebuilds a workspace from the checkpoint at `ref`: the branch and HEAD it had, the
 * origin remote, and the files as checkpointed (as uncommitted changes).
 * @returns the checkpoint commit id, or null if there is no checkpoint.
 */
export async function restore(target: string | Sandbox, store: string, ref: string, identity: GitIdentity = DEFAULT_IDENTITY): Promise<string | null> {
  const dir = dirOf(target);
  const commit = await git(['--git-dir', store, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => '');
  if (!commit) return null;
  const messageText = await git(['--git-dir', store, 'log', '-1', '--format=%B', commit]);
  const branch = /^Nightshift-Branch: (.+)$/m.exec(messageText)?.[1]?.trim() || 'nightshift';
  const origin = /^Nightshift-Origin: (.+)$/m.exec(messageText)?.[1]?.trim();
  await fs.promises.rm(path.join(dir, '.git'), { recursive: true, force: true });
  await fs.promises.mkdir(dir, { recursive: true });
  await git(['init', '--quiet', dir]);
  await git(['fetch', '--quiet', '--no-tags', store, ref], { cwd: dir });
  await git(['checkout', '--quiet', '-f', '-B', branch, 'FETCH_HEAD^1'], { cwd: dir });
  // Working tree = checkpoint, index and HEAD = the base: the work shows as changes again.
  await git(['read-tree', '-u', '--reset', `${commit}^{tree}`], { cwd: dir });
  await git(['reset', '--quiet'], { cwd: dir });
  if (origin) await git(['remote', 'add', 'origin', origin], { cwd: dir });
  await git(['config', 'user.name', identity.name], { cwd: dir });
  await git(['config', 'user.email', identity.email], { cwd: dir });
  return commit;
}
