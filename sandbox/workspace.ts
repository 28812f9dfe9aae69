/**
 * Worker-side git operations on a sandbox's workspace: prepare (clone, identity, context
 * files), checkpoint (snapshot the work tree into a store outside the sandbox) and
 * restore (rebuild a lost workspace from the last checkpoint).
 *
 * These are the orchestrator's operations, not the agent's, so they run outside the
 * sandbox and outside the safety policy. They still distrust the workspace: the agent
 * wrote its files and, in a task without a repository, may have written a `.git` of its
 * own. So every git call here reads only configuration the worker owns (no system or
 * global file, a HOME nobody writes, hooks, fsmonitor, filters and helpers off, only the
 * transports the worker needs), and the work tree is read through the worker's own git
 * directory, never through a `.git` the worker did not make.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { LocalSandbox } from './local';
import { resolveInWorkspace } from './policy';
import type { Sandbox } from './types';

/**
 * Configuration pinned on every git call, above anything a repository's config says: no
 * hook, fsmonitor, attributes file, credential helper or signing program can run, ssh is
 * the plain client, and only the file, https and ssh transports exist (no `ext::`, no
 * unauthenticated `git://`).
 */
const PINNED_CONFIG: [string, string][] = [
  ['core.hooksPath', '/dev/null'],
  ['core.fsmonitor', 'false'],
  ['core.attributesFile', '/dev/null'],
  ['core.excludesFile', '/dev/null'],
  ['core.sshCommand', 'ssh'],
  ['credential.helper', ''],
  ['commit.gpgSign', 'false'],
  ['tag.gpgSign', 'false'],
  ['protocol.allow', 'never'],
  ['protocol.file.allow', 'always'],
  ['protocol.https.allow', 'always'],
  ['protocol.ssh.allow', 'always'],
  // A nested repository in the work tree is the agent's: git must never start another git
  // in it (a dirty check or a recursing checkout would read that repository's config).
  ['submodule.recurse', 'false'],
  ['diff.ignoreSubmodules', 'all'],
  ['status.submoduleSummary', 'false'],
  ['fetch.recurseSubmodules', 'false'],
  ['push.recurseSubmodules', 'no'],
];
const PINNED = PINNED_CONFIG.flatMap(([k, v]) => ['-c', `${k}=${v}`]);

let emptyHome: string | undefined;
/** An empty directory only this process writes, as git's HOME and XDG_CONFIG_HOME. */
function workerGitHome(): string {
  if (emptyHome && fs.existsSync(emptyHome)) return emptyHome;
  emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-git-home-'));
  return emptyHome;
}

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

/**
 * How long one host git call may take unless the caller says. The agent can make git
 * wait forever (a nested repository whose HEAD is a FIFO is opened while the work tree
 * is walked), and an activity's timeout ends the activity, never its child process.
 * As long as the longest activity that runs git (a clone or push of a large repository).
 */
export const HOST_GIT_TIMEOUT_MS = 20 * 60_000;

/** Runs git and returns trimmed stdout; throws with git's stderr on failure, or once `timeoutMs` has passed (SIGKILL). */
export async function git(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const timeoutMs = o.timeoutMs ?? HOST_GIT_TIMEOUT_MS;
    execFile(
      'git',
      [...PINNED, ...args],
      { cwd: o.cwd, env: { ...gitEnv(), ...o.env }, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err && err.killed) reject(new Error(`git ${args.join(' ')} was killed after ${timeoutMs} ms (the work tree made it wait)`));
        else if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

/** Starts git with the same pinned config and environment as `git`, for output too large to buffer; the caller reads and ends it. */
export function gitProcess(args: string[], o: { cwd?: string } = {}): ChildProcessWithoutNullStreams {
  return spawn('git', [...PINNED, ...args], { cwd: o.cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Runs git with its stdout as a stream (a bundle, which may be larger than memory should
 * hold). `done` settles when git exits, rejecting with its stderr on failure.
 */
export function gitStream(args: string[], o: { cwd?: string } = {}): { stdout: Readable; done: Promise<void> } {
  const child = spawn('git', [...PINNED, ...args], { cwd: o.cwd, env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} failed: ${stderr.trim() || `exit ${code ?? signal}`}`))));
  });
  // Piped now, not when the caller reads: a child that exits before its stdout has a reader
  // has that output resumed and thrown away by Node, which stored empty checkpoint bundles.
  // pipe() keeps backpressure, so git still waits for a slow reader.
  const stdout = new PassThrough();
  child.stdout.pipe(stdout);
  // A reader that gives up destroys `stdout`; git must then see a closed pipe and exit.
  stdout.on('close', () => child.stdout.destroy());
  return { stdout, done };
}

/**
 * The worker's env minus GIT_* overrides that would point git somewhere else, with no
 * system or global config and no prompts. Callers may add GIT_* (an index file, auth
 * headers through GIT_CONFIG_COUNT); the pinned options still win over those.
 */
export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  const home = workerGitHome();
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
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
    // Before the clone: a retry after a crash mid-clone must still know whose `.git` it is.
    if (target instanceof LocalSandbox) markWorkerGit(target);
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
  // Snapshots fetched in before their commit exists must not be pruned meanwhile.
  await git(['--git-dir', store, 'config', 'gc.auto', '0']);
}

/** `refs/nightshift/checkpoints/<key>` with the key made ref-safe. */
export function checkpointRef(key: string): string {
  return `refs/nightshift/checkpoints/${key.replace(/[^A-Za-z0-9._/-]+/g, '-').replace(/\.\.+|\/\/+|\.lock\b/g, '-')}`;
}

/**
 * A file beside the workspace (in the sandbox's own directory, which the sandbox never
 * sees) saying the workspace's `.git` was made by the worker: a clone or a restore. Only
 * then does the worker read that `.git` at all; a `.git` the agent made is just files.
 */
const WORKER_GIT_MARK = 'workspace-git-by-worker';

function markWorkerGit(sandbox: LocalSandbox): void {
  fs.writeFileSync(path.join(sandbox.dir, WORKER_GIT_MARK), '');
}

export function workerMadeGit(sandbox: LocalSandbox): boolean {
  return fs.existsSync(path.join(sandbox.dir, WORKER_GIT_MARK)) && fs.existsSync(path.join(sandbox.workspaceDir, '.git'));
}

function localOnly(target: Sandbox): LocalSandbox {
  if (target instanceof LocalSandbox) return target;
  throw new Error(`checkpoints of ${target.constructor.name} sandboxes are not supported yet; only local workspaces`);
}

export interface WorkTreeSnapshot {
  /** The tree of the work tree, as a commit of it would hold it. */
  tree: string;
  /** The workspace HEAD it builds on; undefined when the worker did not make the workspace's `.git`. */
  base?: string;
}

/**
 * Writes the workspace's files into `store` and returns their tree, read through the
 * store (the worker's own git directory and config) over the work tree: a `.git` in the
 * workspace is skipped, `.gitattributes` can name no filter that exists, special files
 * are left out. Starts from the base commit's index, as the delivery commit does, so
 * tracked files that match `.gitignore` stay in and both give the same tree.
 */
export async function snapshotWorkTree(target: Sandbox, store: string, o: { timeoutMs?: number } = {}): Promise<WorkTreeSnapshot> {
  const sandbox = localOnly(target);
  await ensureCheckpointStore(store);
  let base: string | undefined;
  if (workerMadeGit(sandbox)) {
    base = await git(['--git-dir', path.join(sandbox.workspaceDir, '.git'), 'rev-parse', '--verify', 'HEAD^{commit}']);
    // Only the objects, once: restore needs the base's history, the store needs no ref for it.
    const stored = await git(['--git-dir', store, 'cat-file', '-e', `${base}^{commit}`]).then(() => true, () => false);
    if (!stored) await git(['--git-dir', store, 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', path.join(sandbox.workspaceDir, '.git'), base]);
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-snapshot-'));
  try {
    const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
    const over = ['--git-dir', store, '--work-tree', sandbox.workspaceDir];
    if (base) await git([...over, 'read-tree', base], { env });
    // Without a repository nothing is delivered from this tree; installed packages would only slow every checkpoint.
    const pathspec = base ? [] : ['--', '.', ':(exclude,glob)**/node_modules/**'];
    await git([...over, 'add', '-A', '--ignore-errors', ...pathspec], { cwd: sandbox.workspaceDir, env, timeoutMs: o.timeoutMs }).catch((err: Error) => {
      if (!onlyEmptyNestedRepos(err.message)) throw err;
    });
    return { tree: await git([...over, 'write-tree'], { env }), base };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Whether `git add --ignore-errors` failed only on nested repositories without a commit
 * (what `cargo new` or an agent's `.git` makes): those are left out, the rest is added.
 * The delivery commit in the sandbox skips the same ones, so both see the same tree.
 */
export function onlyEmptyNestedRepos(gitError: string): boolean {
  const lines = gitError.split('\n').map((l) => l.trim()).filter(Boolean);
  const nested = lines.filter((l) => /does not have a commit checked out$/.test(l));
  return nested.length > 0 && lines.every((l) => nested.includes(l) || /^fatal: adding files failed$/.test(l));
}

/**
 * Snapshots the workspace as it is (tracked, untracked and deleted files, honouring
 * .gitignore) to `ref` in `store`. The commit's parent is the workspace HEAD when the
 * worker made the workspace's `.git`, so a restore can put HEAD back and leave the
 * agent's work as uncommitted changes. Nothing in the workspace is written.
 * @returns the checkpoint commit id.
 */
export async function checkpoint(target: Sandbox, store: string, ref: string, message = 'nightshift checkpoint', o: { timeoutMs?: number } = {}): Promise<string> {
  const sandbox = localOnly(target);
  const { tree, base } = await snapshotWorkTree(sandbox, store, o);
  let trailers = '';
  if (base) {
    const wsGit = ['--git-dir', path.join(sandbox.workspaceDir, '.git')];
    const branch = await git([...wsGit, 'rev-parse', '--abbrev-ref', 'HEAD']);
    const origin = await git([...wsGit, 'remote', 'get-url', 'origin']).catch(() => '');
    trailers = `\n\nNightshift-Branch: ${branch}\nNightshift-Origin: ${origin}\n`;
  }
  const commit = await git(['--git-dir', store, '-c', 'user.name=nightshift', '-c', 'user.email=nightshift@localhost', 'commit-tree', tree, ...(base ? ['-p', base] : []), '-m', `${message}${trailers}`]);
  await git(['--git-dir', store, 'update-ref', ref, commit]);
  return commit;
}

/**
 * Rebuilds a workspace from the checkpoint at `ref`: the branch and HEAD it had, the
 * origin remote, and the files as checkpointed (as uncommitted changes). A checkpoint of
 * a workspace without the worker's `.git` gives back its files only.
 * @returns the checkpoint commit id, or null if there is no checkpoint.
 */
export async function restore(target: Sandbox, store: string, ref: string, identity: GitIdentity = DEFAULT_IDENTITY): Promise<string | null> {
  const sandbox = localOnly(target);
  const dir = sandbox.workspaceDir;
  const commit = await git(['--git-dir', store, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => '');
  if (!commit) return null;
  const messageText = await git(['--git-dir', store, 'log', '-1', '--format=%B', commit]);
  const hasBase = (await git(['--git-dir', store, 'rev-list', '--parents', '-n', '1', commit])).split(' ').length > 1;
  await fs.promises.rm(path.join(dir, '.git'), { recursive: true, force: true });
  await fs.promises.mkdir(dir, { recursive: true });
  if (!hasBase) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-restore-'));
    try {
      await git(['--git-dir', store, '--work-tree', dir, 'read-tree', '-u', '--reset', `${commit}^{tree}`], { env: { GIT_INDEX_FILE: path.join(scratch, 'index') } });
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    return commit;
  }
  const branch = /^Nightshift-Branch: (.+)$/m.exec(messageText)?.[1]?.trim() || 'nightshift';
  const origin = /^Nightshift-Origin: (.+)$/m.exec(messageText)?.[1]?.trim();
  await git(['init', '--quiet', dir]);
  markWorkerGit(sandbox);
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
