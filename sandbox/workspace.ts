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
import { inheritedEnv } from '../common/config';
import { LocalSandbox } from './local';
import { resolveInWorkspace } from './policy';
import { objectIdOf, receiveFile, runInSandbox, sendFile, shq, transferName, withTempBundle } from './remote-workspace';
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
export async function git(
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timeoutMs = o.timeoutMs ?? HOST_GIT_TIMEOUT_MS;
    execFile(
      'git',
      [...PINNED, ...args],
      {
        cwd: o.cwd,
        env: { ...gitEnv(), ...o.env },
        maxBuffer: 64 * 1024 * 1024,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        if (err && err.killed)
          reject(new Error(`git ${args.join(' ')} was killed after ${timeoutMs} ms (the work tree made it wait)`));
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
    child.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`git ${args.join(' ')} failed: ${stderr.trim() || `exit ${code ?? signal}`}`)),
    );
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
  for (const [k, v] of Object.entries(inheritedEnv())) if (!k.startsWith('GIT_')) env[k] = v;
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

/**
 * The workspace's directory on this host's disk, where the worker's own git and the
 * command policy can read it; undefined when it lives in a remote sandbox (Docker, E2B)
 * and is reached only through the sandbox's API.
 */
export function hostWorkspaceOf(sandbox: Sandbox): string | undefined {
  return sandbox instanceof LocalSandbox ? sandbox.workspaceDir : undefined;
}

/**
 * The workspace as the command policy names it: the path the sandbox's commands see (the
 * host path for a local sandbox), so the absolute paths an agent writes resolve inside it.
 */
export function policyWorkspaceRoot(sandbox: Sandbox): string {
  return sandbox.workdir;
}

/** Whether the workspace is on this host's disk, where the worker's own git reads it. */
function isHostWorkspace(target: string | Sandbox): target is string | LocalSandbox {
  return typeof target === 'string' || target instanceof LocalSandbox;
}

/**
 * Clones `repo` into the workspace at `branch`, sets the git identity and reports missing
 * context files. Idempotent: an already-cloned workspace is left as it is (a retried
 * activity must not discard work).
 */
export async function prepareWorkspace(target: string | Sandbox, o: PrepareOptions): Promise<PreparedWorkspace> {
  if (!isHostWorkspace(target)) return prepareRemoteWorkspace(target, o);
  const dir = typeof target === 'string' ? target : target.workspaceDir;
  if (!fs.existsSync(path.join(dir, '.git'))) {
    await fs.promises.mkdir(dir, { recursive: true });
    // Before the clone: a retry after a crash mid-clone must still know whose `.git` it is.
    if (target instanceof LocalSandbox) markWorkerGit(target);
    // --no-hardlinks: a local clone must not share object files with the source repo.
    await git(['clone', '--no-hardlinks', '--quiet', o.repo, dir]);
    const remoteUrl = withoutCredentials(o.repo);
    if (remoteUrl !== o.repo) await git(['remote', 'set-url', 'origin', remoteUrl], { cwd: dir });
    const onRemote = await git(['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${o.branch}`], {
      cwd: dir,
    }).catch(() => '');
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

/** Left in a remote workspace's `.git` once the worker's clone or restore there is complete. */
const REMOTE_PREPARED_MARK = 'nightshift-prepared';

/**
 * prepareWorkspace for a sandbox on another machine: the worker clones on the host (its
 * credentials stay there), bundles every branch and sends the bundle in; the sandbox's git
 * makes the repository from it, with `origin` named by its URL minus any credentials.
 */
async function prepareRemoteWorkspace(sandbox: Sandbox, o: PrepareOptions): Promise<PreparedWorkspace> {
  const prepared =
    (
      await runInSandbox(
        sandbox,
        `if [ -f .git/${REMOTE_PREPARED_MARK} ]; then echo yes; fi`,
        'looking for a prepared workspace',
      )
    ).trim() === 'yes';
  if (!prepared) {
    const clone = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'nightshift-clone-'));
    try {
      await git(['clone', '--bare', '--no-hardlinks', '--quiet', o.repo, clone]);
      const has = (ref: string) =>
        git(['--git-dir', clone, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).then(
          () => true,
          () => false,
        );
      const defaultBranch =
        (await git(['--git-dir', clone, 'symbolic-ref', '--short', 'HEAD']).catch(() => '')) || 'main';
      const start = (await has(`refs/heads/${o.branch}`)) ? o.branch : (o.base ?? defaultBranch);
      if (!(await has(`refs/heads/${start}`)))
        throw new Error(`${withoutCredentials(o.repo)} has no branch ${start} to start ${o.branch} from`);
      const id = o.identity ?? DEFAULT_IDENTITY;
      await withTempBundle(async (file) => {
        await git(['--git-dir', clone, 'bundle', 'create', '--quiet', file, '--branches']);
        const bundle = transferName('clone');
        await sendFile(sandbox, file, bundle);
        await runInSandbox(
          sandbox,
          `rm -rf .git
git init -q .
git fetch -q --no-tags ${shq(bundle)} '+refs/heads/*:refs/remotes/origin/*'
rm -f ${shq(bundle)}
git checkout -q -f -B ${shq(o.branch)} ${shq(`refs/remotes/origin/${start}`)}
git remote add origin ${shq(withoutCredentials(o.repo))}
git config user.name ${shq(id.name)}
git config user.email ${shq(id.email)}
: > .git/${REMOTE_PREPARED_MARK}`,
          'cloning from the bundle',
        );
      });
    } finally {
      await fs.promises.rm(clone, { recursive: true, force: true });
    }
  }
  // A context file that would resolve outside the workspace counts as missing, as on the host.
  const inside = (o.contextFiles ?? []).filter(
    (f) => !path.posix.isAbsolute(f) && !path.posix.normalize(f).startsWith('..'),
  );
  const out = await runInSandbox(
    sandbox,
    [
      'git rev-parse HEAD',
      'git rev-parse --abbrev-ref HEAD',
      ...inside.map((f) => `[ -e ${shq(f)} ] || echo ${shq(`MISSING ${f}`)}`),
    ].join('\n'),
    'reading the prepared workspace',
  );
  const [head, branch, ...rest] = out.split('\n');
  const missing = new Set(rest.filter((l) => l.startsWith('MISSING ')).map((l) => l.slice('MISSING '.length)));
  const headId = objectIdOf(head);
  if (!headId) throw new Error(`the prepared workspace's HEAD is not a commit id: ${head.slice(0, 80)}`);
  return {
    head: headId,
    branch: branch.trim(),
    missingContextFiles: (o.contextFiles ?? []).filter((f) => !inside.includes(f) || missing.has(f)),
  };
}

/** Whether a remote workspace holds the worker's clone or restore (a lost sandbox's new one holds neither). */
export async function remoteWorkspacePrepared(sandbox: Sandbox): Promise<boolean> {
  return (
    (
      await runInSandbox(
        sandbox,
        `if [ -f .git/${REMOTE_PREPARED_MARK} ]; then echo yes; fi`,
        'looking for a prepared workspace',
      )
    ).trim() === 'yes'
  );
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
  return (
    fs.existsSync(path.join(sandbox.dir, WORKER_GIT_MARK)) && fs.existsSync(path.join(sandbox.workspaceDir, '.git'))
  );
}

function localOnly(target: Sandbox): LocalSandbox {
  if (target instanceof LocalSandbox) return target;
  throw new Error(`checkpoints of ${target.constructor.name} sandboxes are not supported yet; only local workspaces`);
}

/**
 * What the delivery commit (activities/task/delivery/sandbox-commit.ts) writes at the
 * workspace's top for `readFile` to carry out, and removes right after.
 */
export const DELIVERY_BUNDLE_FILE = '.nightshift-delivery.bundle';
export const DELIVERY_PATCH_FILE = '.nightshift-delivery.patch';
/**
 * Every file the delivery commit may leave behind when its worker dies: the two above, and
 * the lock `git bundle create` writes before renaming it into place (left, it makes every
 * later bundle fail with "File exists").
 */
export const DELIVERY_FILES = [DELIVERY_BUNDLE_FILE, DELIVERY_PATCH_FILE, `${DELIVERY_BUNDLE_FILE}.lock`];

/**
 * The work tree as every tree of the work reads it: the delivery files left out. A worker
 * that dies between writing and removing them leaves them in the workspace, and the worker
 * that delivers again must still read the tree the checks ran on, on the host and in the
 * sandbox alike.
 */
export const WORK_TREE_PATHSPEC = ['.', ...DELIVERY_FILES.map((f) => `:(top,literal,exclude)${f}`)];

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
export async function snapshotWorkTree(
  target: Sandbox,
  store: string,
  o: { timeoutMs?: number } = {},
): Promise<WorkTreeSnapshot> {
  const sandbox = localOnly(target);
  await ensureCheckpointStore(store);
  let base: string | undefined;
  if (workerMadeGit(sandbox)) {
    base = await git(['--git-dir', path.join(sandbox.workspaceDir, '.git'), 'rev-parse', '--verify', 'HEAD^{commit}']);
    // Only the objects, once: restore needs the base's history, the store needs no ref for it.
    const stored = await git(['--git-dir', store, 'cat-file', '-e', `${base}^{commit}`]).then(
      () => true,
      () => false,
    );
    if (!stored)
      await git([
        '--git-dir',
        store,
        'fetch',
        '--quiet',
        '--no-tags',
        '--no-write-fetch-head',
        path.join(sandbox.workspaceDir, '.git'),
        base,
      ]);
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-snapshot-'));
  try {
    const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
    const over = ['--git-dir', store, '--work-tree', sandbox.workspaceDir];
    if (base) await git([...over, 'read-tree', base], { env });
    // Without a repository nothing is delivered from this tree; installed packages would only slow every checkpoint.
    const pathspec = ['--', ...WORK_TREE_PATHSPEC, ...(base ? [] : [':(exclude,glob)**/node_modules/**'])];
    await git([...over, 'add', '-A', '--ignore-errors', ...pathspec], {
      cwd: sandbox.workspaceDir,
      env,
      timeoutMs: o.timeoutMs,
    }).catch((err: Error) => {
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
  const lines = gitError
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
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
export async function checkpoint(
  target: Sandbox,
  store: string,
  ref: string,
  message = 'nightshift checkpoint',
  o: { timeoutMs?: number } = {},
): Promise<string> {
  if (!isHostWorkspace(target)) return checkpointRemote(target, store, ref, message, o);
  const sandbox = localOnly(target);
  const { tree, base } = await snapshotWorkTree(sandbox, store, o);
  let trailers = '';
  if (base) {
    const wsGit = ['--git-dir', path.join(sandbox.workspaceDir, '.git')];
    const branch = await git([...wsGit, 'rev-parse', '--abbrev-ref', 'HEAD']);
    const origin = await git([...wsGit, 'remote', 'get-url', 'origin']).catch(() => '');
    trailers = `\n\nNightshift-Branch: ${branch}\nNightshift-Origin: ${origin}\n`;
  }
  const commit = await git([
    '--git-dir',
    store,
    '-c',
    'user.name=nightshift',
    '-c',
    'user.email=nightshift@localhost',
    'commit-tree',
    tree,
    ...(base ? ['-p', base] : []),
    '-m',
    `${message}${trailers}`,
  ]);
  await git(['--git-dir', store, 'update-ref', ref, commit]);
  return commit;
}

/**
 * Rebuilds a workspace from the checkpoint at `ref`: the branch and HEAD it had, the
 * origin remote, and the files as checkpointed (as uncommitted changes). A checkpoint of
 * a workspace without the worker's `.git` gives back its files only.
 * @returns the checkpoint commit id, or null if there is no checkpoint.
 */
export async function restore(
  target: Sandbox,
  store: string,
  ref: string,
  identity: GitIdentity = DEFAULT_IDENTITY,
): Promise<string | null> {
  if (!isHostWorkspace(target)) return restoreRemote(target, store, ref, identity);
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
      await git(['--git-dir', store, '--work-tree', dir, 'read-tree', '-u', '--reset', `${commit}^{tree}`], {
        env: { GIT_INDEX_FILE: path.join(scratch, 'index') },
      });
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

/** The checkpoint commit's message: the caller's, plus where a restore puts HEAD back. */
const checkpointMessage = (message: string, branch?: string, origin?: string) =>
  branch ? `${message}\n\nNightshift-Branch: ${branch}\nNightshift-Origin: ${origin ?? ''}\n` : message;

/**
 * checkpoint for a sandbox on another machine. The sandbox's git snapshots the work tree
 * the way the local one does (from HEAD's index, `.git` skipped, nested repositories
 * without a commit left out, node_modules left out without a repository) into a throwaway
 * repository, commits it on HEAD and bundles the commit; the bundle leaves the sandbox and
 * the worker's git fetches it into `store`. The bundle leaves out HEAD's history when the
 * store already has it.
 */
async function checkpointRemote(
  sandbox: Sandbox,
  store: string,
  ref: string,
  message: string,
  o: { timeoutMs?: number },
): Promise<string> {
  await ensureCheckpointStore(store);
  const head =
    objectIdOf(
      await runInSandbox(
        sandbox,
        `if [ -d .git ]; then git --git-dir=.git rev-parse --verify -q 'HEAD^{commit}' || true; fi`,
        'reading HEAD',
      ),
    ) ?? '';
  const storeHas = head
    ? await git(['--git-dir', store, 'cat-file', '-e', `${head}^{commit}`]).then(
        () => true,
        () => false,
      )
    : false;
  const bundle = transferName('checkpoint');
  const out = await runInSandbox(
    sandbox,
    `ws="$PWD"
t="\${TMPDIR:-/tmp}/nightshift-checkpoint"
rm -rf "$t" && mkdir -p "$t"
git init -q --bare "$t/repo.git"
base=${shq(head)}
if [ -n "$base" ]; then
  printf '%s\\n' "$ws/.git/objects" > "$t/repo.git/objects/info/alternates"
  echo "BRANCH $(git --git-dir="$ws/.git" rev-parse --abbrev-ref HEAD)"
  echo "ORIGIN $(git --git-dir="$ws/.git" remote get-url origin 2>/dev/null || true)"
fi
export GIT_DIR="$t/repo.git" GIT_WORK_TREE="$ws" GIT_INDEX_FILE="$t/index"
if [ -n "$base" ]; then git read-tree "$base"; set -- ; else set -- -- . ':(exclude,glob)**/node_modules/**'; fi
if ! git add -A --ignore-errors "$@" 2>"$t/add-errors"; then
  if grep -v -e 'does not have a commit checked out$' -e '^fatal: adding files failed$' "$t/add-errors" >&2; then exit 1; fi
fi
echo "TREE $(git write-tree)"`,
    'snapshotting the workspace',
    { timeoutMs: o.timeoutMs },
  );
  const value = (tag: string) =>
    out
      .split('\n')
      .find((l) => l.startsWith(`${tag} `))
      ?.slice(tag.length + 1)
      .trim();
  const tree = value('TREE');
  if (!tree || !/^[0-9a-f]{40,64}$/.test(tree))
    throw new Error(`snapshotting the workspace in the sandbox printed no tree: ${out.slice(-400)}`);
  const branch = head ? value('BRANCH') : undefined;
  // Committed in the sandbox with fixed identity and the worker's message; dates need not repeat.
  const commitOut = await runInSandbox(
    sandbox,
    `ws="$PWD"
export GIT_DIR="\${TMPDIR:-/tmp}/nightshift-checkpoint/repo.git"
c=$(git -c user.name=nightshift -c user.email=nightshift@localhost commit-tree ${shq(tree)} ${head ? `-p ${shq(head)}` : ''} -F - <<'NIGHTSHIFT_MSG'
${checkpointMessage(message, branch, value('ORIGIN')).replace(/^NIGHTSHIFT_MSG$/gm, 'NIGHTSHIFT_MSG.')}
NIGHTSHIFT_MSG
)
git update-ref refs/nightshift/checkpoint "$c"
git bundle create -q "$ws/"${shq(bundle)} refs/nightshift/checkpoint ${storeHas ? shq(`^${head}`) : ''}
rm -rf "\${TMPDIR:-/tmp}/nightshift-checkpoint"
echo "COMMIT $c"`,
    'committing the checkpoint',
    { timeoutMs: o.timeoutMs },
  );
  const commit = /^COMMIT ([0-9a-f]{40,64})$/m.exec(commitOut)?.[1];
  if (!commit) throw new Error(`the checkpoint commit in the sandbox printed no id: ${commitOut.slice(-400)}`);
  await withTempBundle(async (file) => {
    await receiveFile(sandbox, bundle, file);
    await git([
      '--git-dir',
      store,
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      file,
      `+refs/nightshift/checkpoint:${ref}`,
    ]);
  });
  const got = await git(['--git-dir', store, 'rev-parse', '--verify', `${ref}^{commit}`]);
  if (got !== commit) throw new Error(`the checkpoint bundle held ${got}, not ${commit}`);
  return commit;
}

/**
 * restore for a sandbox on another machine: the worker bundles the checkpoint (with its
 * base's history) from `store` and sends it in; the sandbox's git rebuilds the workspace
 * as the local restore does. @returns the checkpoint commit id, or null if there is none.
 */
async function restoreRemote(
  sandbox: Sandbox,
  store: string,
  ref: string,
  identity: GitIdentity,
): Promise<string | null> {
  const commit = await git(['--git-dir', store, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => '');
  if (!commit) return null;
  const messageText = await git(['--git-dir', store, 'log', '-1', '--format=%B', commit]);
  const hasBase = (await git(['--git-dir', store, 'rev-list', '--parents', '-n', '1', commit])).split(' ').length > 1;
  const branch = /^Nightshift-Branch: (.+)$/m.exec(messageText)?.[1]?.trim() || 'nightshift';
  const origin = /^Nightshift-Origin: (.+)$/m.exec(messageText)?.[1]?.trim();
  const bundle = transferName('restore');
  await withTempBundle(async (file) => {
    await git(['--git-dir', store, 'bundle', 'create', '--quiet', file, ref]);
    await sendFile(sandbox, file, bundle);
  });
  const script = hasBase
    ? `rm -rf .git
git init -q .
git fetch -q --no-tags ${shq(bundle)} ${shq(`+${ref}:refs/nightshift/restored`)}
rm -f ${shq(bundle)}
git checkout -q -f -B ${shq(branch)} 'refs/nightshift/restored^1'
# Working tree = checkpoint, index and HEAD = the base: the work shows as changes again.
git read-tree -u --reset ${shq(`${commit}^{tree}`)}
git reset -q
git update-ref -d refs/nightshift/restored
${origin ? `git remote add origin ${shq(origin)}` : ''}
git config user.name ${shq(identity.name)}
git config user.email ${shq(identity.email)}
: > .git/${REMOTE_PREPARED_MARK}`
    : `t="\${TMPDIR:-/tmp}/nightshift-restore"
rm -rf "$t" && mkdir -p "$t"
git init -q --bare "$t/repo.git"
git --git-dir="$t/repo.git" fetch -q --no-tags ${shq(bundle)} ${shq(`+${ref}:refs/nightshift/restored`)}
rm -f ${shq(bundle)}
GIT_DIR="$t/repo.git" GIT_WORK_TREE="$PWD" GIT_INDEX_FILE="$t/index" git read-tree -u --reset ${shq(`${commit}^{tree}`)}
rm -rf "$t"`;
  await runInSandbox(sandbox, script, 'restoring the checkpoint');
  return commit;
}
