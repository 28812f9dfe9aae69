/**
 * The orchestrator-side safety policy: checked before a
 * tool runs. It is the first of two walls; the sandbox is the second (the workspace's
 * `.git` is read-only inside it and the network is an allowlist), so a command that
 * slips past this parser by obfuscation still cannot commit, push or reach a database.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { PolicyViolation } from '../common/errors';
import {
  parseShell,
  ShellSyntaxError,
  type Command,
  type Redirect,
  type Script,
  type Word,
  type WordPart,
} from './shell-words';

/** Default patterns (case-insensitive regular expressions) of commands that apply database migrations. */
export const DEFAULT_MIGRATION_PATTERNS: readonly string[] = [
  String.raw`\bprisma\s+migrate\s+(deploy|reset|resolve)\b`,
  // `migrate dev --create-only` only writes a migration file, which agents may do.
  String.raw`\bprisma\s+migrate\s+dev\b(?!.*--create-only)`,
  String.raw`\bprisma\s+db\s+(push|execute|seed)\b`,
  String.raw`\bsupabase\s+(db\s+(push|reset)|migration\s+(up|repair))\b`,
  String.raw`\bknex\b.*\b(migrate:(latest|up|down|rollback)|seed:run)\b`,
  String.raw`\bsequelize(-cli)?\b.*\bdb:(migrate|seed)`,
  String.raw`\bmanage\.py\s+(migrate|flush)\b`,
  String.raw`\b(rails|rake)\s+db:(migrate|rollback|reset|drop|setup|seed|schema:load)\b`,
  String.raw`\balembic\b.*\b(upgrade|downgrade|stamp)\b`,
  String.raw`\bpsql\b.*(\s-f|\s--file)(\s|=|$)`,
  String.raw`\bdrizzle-kit\s+(push|migrate)\b`,
  String.raw`\btypeorm\b.*\bmigration:(run|revert)\b`,
  String.raw`\bflyway\b.*\b(migrate|clean)\b`,
  String.raw`\bdbmate\b.*\b(up|migrate|rollback|drop)\b`,
  String.raw`\b(npm|pnpm|yarn|bun)\s+(run\s+)?\S*migrate(\s|$)`,
];

export const SafetyPolicySchema = z.object({
  /**
   * Let the agent stage, commit, push and rewrite history. The worker commits and pushes
   * on the agent's behalf, so this is only for tasks that are about git itself.
   * @default false
   */
  allowGit: z.boolean().default(false),
  /**
   * Commands matching any of these case-insensitive regular expressions are refused as
   * database migrations. Replaces the defaults when given.
   * @default DEFAULT_MIGRATION_PATTERNS
   */
  migrationPatterns: z.array(z.string()).default([...DEFAULT_MIGRATION_PATTERNS]),
  /**
   * More case-insensitive regular expressions to refuse, matched against each simple
   * command and against the whole command line.
   * @default []
   */
  extraForbiddenPatterns: z.array(z.string()).default([]),
  /**
   * Let `rm`, `rmdir`, `unlink`, `shred` and `find -delete` name paths outside the
   * workspace, or the workspace root itself.
   * @default false
   */
  allowDeleteOutside: z.boolean().default(false),
});
export type SafetyPolicy = z.infer<typeof SafetyPolicySchema>;
export type SafetyPolicyInput = z.input<typeof SafetyPolicySchema>;

/** The safe defaults: no git writes, no migrations, no deletes outside the workspace. */
export const DEFAULT_SAFETY_POLICY: SafetyPolicy = SafetyPolicySchema.parse({});

/** Rule names carried by `PolicyViolation.rule`; the report shows them. */
export const RULES = {
  git: 'no-git-writes',
  migration: 'no-db-migrations',
  delete: 'no-delete-outside-workspace',
  path: 'no-path-outside-workspace',
  pattern: 'forbidden-pattern',
} as const;

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'fish', 'rbash']);
/**
 * Programs that run their arguments as a command, with the options of theirs that take a
 * value. `operands` is how many plain arguments come before the command (`timeout 10 cmd`).
 */
const WRAPPERS: Record<string, { valued: Set<string>; operands?: number }> = {
  env: { valued: new Set(['-u', '--unset', '-C', '--chdir']) },
  busybox: { valued: new Set() },
  sudo: { valued: new Set(['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U']) },
  doas: { valued: new Set(['-u', '-C']) },
  runuser: { valued: new Set(['-u', '-g', '-G']) },
  command: { valued: new Set() },
  builtin: { valued: new Set() },
  exec: { valued: new Set(['-a']) },
  nohup: { valued: new Set() },
  nice: { valued: new Set(['-n', '--adjustment']) },
  ionice: { valued: new Set(['-c', '-n', '-p', '--class', '--classdata']) },
  setsid: { valued: new Set() },
  stdbuf: { valued: new Set(['-i', '-o', '-e']) },
  timeout: { valued: new Set(['-s', '-k', '--signal', '--kill-after']), operands: 1 },
  xargs: {
    valued: new Set([
      '-I',
      '-L',
      '-n',
      '-P',
      '-s',
      '-d',
      '-E',
      '-e',
      '-a',
      '--max-args',
      '--max-procs',
      '--delimiter',
      '--arg-file',
      '--replace',
      '--max-lines',
    ]),
  },
  parallel: { valued: new Set(['-j', '-S', '--jobs', '-I', '--delay', '--timeout']) },
  npx: { valued: new Set(['-p', '--package', '--cache', '--userconfig']) },
  pnpx: { valued: new Set(['-p', '--package']) },
  bunx: { valued: new Set(['-p', '--package']) },
  chronic: { valued: new Set() },
  unbuffer: { valued: new Set() },
  time: { valued: new Set(['-o', '-f', '--output', '--format']) },
  strace: { valued: new Set(['-o', '-e', '-p', '-s', '-E', '-u', '-a', '-P', '-I', '-X']) },
  ltrace: { valued: new Set(['-o', '-e', '-p', '-s', '-u', '-a', '-n']) },
  valgrind: { valued: new Set() },
  chroot: { valued: new Set(['--userspec', '--groups']), operands: 1 },
  unshare: { valued: new Set(['-S', '-G', '--setuid', '--setgid', '-w', '--wd', '-R', '--root']) },
  setpriv: { valued: new Set(['--reuid', '--regid', '--groups', '--inh-caps', '--bounding-set']) },
  flock: { valued: new Set(['-w', '--timeout', '-E', '--conflict-exit-code']), operands: 1 },
  taskset: { valued: new Set(['-c', '--cpu-list']), operands: 1 },
  faketime: { valued: new Set(['-f']), operands: 1 },
  torsocks: { valued: new Set() },
  proxychains: { valued: new Set(['-f']) },
  proxychains4: { valued: new Set(['-f']) },
  'dbus-run-session': { valued: new Set() },
  'xvfb-run': { valued: new Set(['-n', '-s', '-f', '-e', '-p', '--server-num', '--server-args']) },
  firejail: { valued: new Set() },
  caffeinate: { valued: new Set(['-t', '-w']) },
};
/** Interpreters, with the options that carry code and those that take another value. */
const INTERPRETERS: Array<{ match: RegExp; code: RegExp; valued: Set<string>; noStdin?: Set<string> }> = [
  {
    match: /^python[0-9.]*$|^pypy[0-9.]*$/,
    code: /^-[a-zA-Z]*c$/,
    valued: new Set(['-W', '-X', '-Q']),
    noStdin: new Set(['-m', '-V', '--version', '-h', '--help']),
  },
  {
    match: /^(node|nodejs)$/,
    code: /^(-e|--eval|-p|--print|-pe)$/,
    valued: new Set([
      '-r',
      '--require',
      '--import',
      '--loader',
      '--experimental-loader',
      '-C',
      '--conditions',
      '--env-file',
      '--test-reporter',
      '--test-reporter-destination',
      '--test-concurrency',
      '--test-name-pattern',
      '--input-type',
      '--stack-size',
      '--max-old-space-size',
      '--title',
    ]),
    noStdin: new Set(['--test', '-v', '--version', '-h', '--help', '--check', '-c', '--run']),
  },
  {
    match: /^(bun|deno)$/,
    code: /^(-e|--eval|-p|--print|eval)$/,
    valued: new Set(['-r', '--preload', '--cwd', '--config']),
    noStdin: new Set([
      'test',
      'run',
      'install',
      'i',
      'add',
      'x',
      'build',
      'fmt',
      'lint',
      'check',
      'task',
      '--version',
      '-v',
    ]),
  },
  { match: /^perl[0-9.]*$/, code: /^-[a-zA-Z]*[eE]$/, valued: new Set(['-I', '-M', '-m', '-x']) },
  { match: /^ruby[0-9.]*$/, code: /^-[a-zA-Z]*e$/, valued: new Set(['-I', '-r', '-C', '-E']) },
  { match: /^php[0-9.]*$/, code: /^-[a-zA-Z]*[rB]$/, valued: new Set(['-c', '-d', '-z']) },
  { match: /^(lua|luajit|Rscript|tclsh|osascript|jshell)$/, code: /^-[a-zA-Z]*e$/, valued: new Set(['-l']) },
];
/** What a command line can write to, in the same breath as running it. */
const WRITE_REDIRECTS = new Set(['>', '>>', '>|', '&>', '&>>', '<>']);
/** Tools whose output files the policy cannot name from their arguments: archives, editors, splitters. */
const WRITES_UNNAMED = new Set([
  'tar',
  'unzip',
  'patch',
  'split',
  'csplit',
  'cpio',
  'ar',
  'jar',
  'bsdtar',
  'pax',
  'unrar',
  '7z',
  '7za',
  '7zr',
  'gzip',
  'gunzip',
  'bzip2',
  'bunzip2',
  'xz',
  'unxz',
  'lzma',
  'unlzma',
  'zstd',
  'unzstd',
  'lz4',
  'ex',
  'ed',
  'red',
  'vi',
  'vim',
  'nvim',
  'view',
  'vimdiff',
  'emacs',
  'nano',
  'busybox',
]);
/** Package-manager verbs that rewrite package.json (and so the scripts it runs). */
const PACKAGE_JSON_WRITERS = new Set(['pkg', 'set-script', 'init', 'create']);

/** git options that come before the subcommand and take a separate value. */
const GIT_VALUE_OPTIONS = new Set([
  '-C',
  '-c',
  '--git-dir',
  '--work-tree',
  '--namespace',
  '--super-prefix',
  '--config-env',
  '--exec-path',
]);
/** Subcommands that stage, commit, move refs, rewrite history or talk to a remote for writing. */
const GIT_FORBIDDEN = new Set([
  'add',
  'commit',
  'push',
  'rebase',
  'reset',
  'filter-branch',
  'filter-repo',
  'update-ref',
  'update-index',
  'symbolic-ref',
  'replace',
  'merge',
  'cherry-pick',
  'revert',
  'am',
  'pull',
  'stash',
  'tag',
  'notes',
  'rm',
  'mv',
  'commit-tree',
  'write-tree',
  'read-tree',
  'mktree',
  'fast-import',
  'send-pack',
  'receive-pack',
  'gc',
  'prune',
  'switch',
  'worktree',
  'submodule',
  'init',
  'clone',
  'remote',
  'apply',
  'restore',
  'config',
]);
/** Subcommands that only read (or, like `checkout -- file` and `clean`, touch only the work tree). */
const GIT_READ_ONLY = new Set([
  'status',
  'diff',
  'log',
  'show',
  'branch',
  'checkout',
  'blame',
  'annotate',
  'grep',
  'ls-files',
  'ls-tree',
  'ls-remote',
  'rev-parse',
  'rev-list',
  'describe',
  'shortlog',
  'cat-file',
  'reflog',
  'help',
  'version',
  'fetch',
  'merge-base',
  'name-rev',
  'for-each-ref',
  'show-ref',
  'whatchanged',
  'range-diff',
  'archive',
  'clean',
  'format-patch',
  'check-ignore',
  'check-attr',
  'count-objects',
  'fsck',
  'var',
  'verify-commit',
  'verify-tag',
  'diff-tree',
  'diff-files',
  'diff-index',
  'show-branch',
  'cherry',
  'hash-object',
  'stripspace',
  'interpret-trailers',
  'column',
  'check-ref-format',
  'difftool',
  'bugreport',
  'get-tar-commit-id',
  'show-index',
  'verify-pack',
  '--version',
  '--help',
  'request-pull',
  'mailinfo',
  'mailsplit',
  'patch-id',
  'unpack-file',
]);
/** Code that reaches git through a library instead of the program. */
const GIT_LIBRARIES =
  /\b(simple-git|isomorphic-git|nodegit|es-git|gitpython|pygit2|dulwich|rugged|from\s+git\s+import|import\s+git\b|require\s*\(\s*['"]git['"])/i;
/** Code that starts processes… */
const SPAWNS =
  /\b(subprocess|os\.system|os\.popen|os\.exec\w*|os\.spawn\w*|pty\.spawn|popen\w*|child_process|exec(Sync|File|FileSync)?|spawn(Sync)?|system|Process\.spawn|Open3|Deno\.(run|Command)|Bun\.(spawn|\$)|shell_exec|passthru|proc_open|qx)\b|`|%x/;
/** …and builds strings the scan cannot read: then what it starts cannot be resolved. */
const OBFUSCATES =
  /base64|b64decode|atob|fromCharCode|\bchr\s*\(|\bord\s*\(|unhexlify|fromhex|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\[0-7]{3}|\[::-1\]|reverse|rot13|codecs|decode\s*\(|\beval\b|\bexec\s*\(|__import__|getattr|importlib|\bpack\s*\(|['"`]\s*\+|\+\s*['"`]|\.join\s*\(|%\s*\(|\bformat\s*\(|\$\{|\bf['"]|replace\s*\(|\bsprintf|\binterpolate/i;
/** Package managers whose `run X` (and plain `X`) runs scripts from package.json. */
const PACKAGE_MANAGERS = new Set(['npm', 'pnpm', 'yarn', 'bun']);
/** npm/yarn/pnpm/bun verbs that run the root package's install lifecycle scripts. */
const INSTALL_VERBS = new Set([
  'install',
  'i',
  'in',
  'ins',
  'inst',
  'insta',
  'instal',
  'isnt',
  'isnta',
  'isntal',
  'isntall',
  'ci',
  'clean-install',
  'install-clean',
  'add',
  'it',
  'install-test',
  'cit',
  'rebuild',
  'rb',
]);
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare'];
/** Verbs that are the package manager's own, not scripts. */
const MANAGER_BUILTINS = new Set([
  'audit',
  'bin',
  'cache',
  'config',
  'dedupe',
  'doctor',
  'explain',
  'help',
  'info',
  'init',
  'link',
  'list',
  'ls',
  'outdated',
  'pack',
  'prune',
  'publish',
  'remove',
  'rm',
  'uninstall',
  'un',
  'unlink',
  'update',
  'up',
  'upgrade',
  'version',
  'view',
  'why',
  'whoami',
  'store',
  'licenses',
  'login',
  'logout',
  'set',
  'get',
  'search',
  'fund',
  'query',
  'pkg',
  'root',
  'prefix',
  'run',
  'run-script',
  'rum',
  'urn',
  'exec',
  'x',
  'dlx',
  'create',
  'import',
  'patch',
  'deploy',
  'workspaces',
  'workspace',
  'dedupe',
  'env',
  'node',
  'plugin',
  'constraints',
  'npm',
]);
/** Nesting of `sh -c`, package scripts and script files beyond which nothing is resolved. */
const MAX_DEPTH = 8;
/** The biggest package.json or script file the policy reads. */
export const MAX_POLICY_FILE_BYTES = 256 * 1024;

/**
 * Files of the workspace the policy may read (package.json, shell scripts), by path
 * relative to the workspace root: the text, `null` when there is no such file,
 * `undefined` when it cannot be read (too big, not a regular file). `PENDING` means the
 * caller will fetch it and ask again.
 */
export type WorkspaceFiles = (relativePath: string) => string | null | undefined | typeof PENDING;
/**
 * A question to WorkspaceFiles that is not a file: `<EXECUTABLE_QUERY><absolute path>`
 * asks what a program path is (`git` or `other`; null when it does not exist).
 */
export const EXECUTABLE_QUERY = '\u0000exe:';
export const PENDING = Symbol('pending');
const NO_FILES: WorkspaceFiles = () => undefined;

/**
 * Throws `PolicyViolation(rule, command, detail)` if `cmd` breaks `policy`. `cwd` is
 * where the command runs (default: the workspace root); relative delete targets resolve
 * against it. `files` reads package.json and scripts the command runs; without it they
 * count as unreadable, so package scripts and script files are refused.
 */
export function checkCommand(
  cmd: string,
  policy: SafetyPolicy,
  workspaceRoot: string,
  cwd: string = workspaceRoot,
  files: WorkspaceFiles = NO_FILES,
): void {
  new CommandCheck(cmd, policy, workspaceRoot, files).run(cwd);
}

/** What a sandbox offers the policy to read its files with, and to ask what a program path is. */
export interface PolicyFileSource {
  readFile(path: string): Promise<Uint8Array>;
  list(path: string, o?: { depth?: number }): Promise<Array<{ path: string; type: 'file' | 'dir'; size: number }>>;
  exec?(cmd: string, o?: { timeoutMs?: number }): Promise<{ exitCode: number; stdout: string }>;
}

/**
 * Asked inside the sandbox, where the path means what it will mean when the command runs:
 * git if the path resolves to a git program (git itself, or git-core's git-* names) or to
 * a regular file with git's bytes. Only system programs run; a FIFO is never opened.
 */
const EXECUTABLE_SCRIPT = `p=$(realpath -e -- "$1" 2>/dev/null) || { echo missing; exit 0; }
case "\${p##*/}" in git|git-*) echo git; exit 0;; esac
g=$(command -v git 2>/dev/null) && g=$(realpath -e -- "$g" 2>/dev/null) || { echo other; exit 0; }
if [ -f "$p" ] && [ ! -p "$p" ] && [ "$(stat -c %s -- "$p")" = "$(stat -c %s -- "$g")" ] && cmp -s -- "$p" "$g"; then echo git; else echo other; fi`;

async function askExecutable(sandbox: PolicyFileSource, abs: string): Promise<string | null | undefined> {
  if (!sandbox.exec) return undefined;
  const r = await sandbox
    .exec(`set -- ${shellQuote(abs)}\n${EXECUTABLE_SCRIPT}`, { timeoutMs: 10_000 })
    .catch((err: unknown) => {
      if (isFileError(err)) return undefined;
      throw err;
    });
  const answer = r?.exitCode === 0 ? r.stdout.trim() : undefined;
  return answer === 'missing' ? null : answer === 'git' || answer === 'other' ? answer : undefined;
}

/**
 * `checkCommand` with the package.json files and scripts it names read through the
 * sandbox: each pass asks for what it needs, they are fetched (bounded in size and time),
 * and the check runs again, a few rounds at most.
 */
export async function checkCommandInSandbox(
  cmd: string,
  policy: SafetyPolicy,
  workspaceRoot: string,
  sandbox: PolicyFileSource,
): Promise<void> {
  const fetched = new Map<string, string | null | undefined>();
  for (let round = 0; ; round++) {
    const wanted = new Set<string>();
    // Each round reads what the last one found (a Makefile's includes, a module's imports).
    const last = round === 10;
    checkCommand(cmd, policy, workspaceRoot, workspaceRoot, (rel) => {
      if (fetched.has(rel)) return fetched.get(rel);
      if (last) return undefined;
      wanted.add(rel);
      return PENDING;
    });
    if (wanted.size === 0) return;
    for (const rel of wanted)
      fetched.set(
        rel,
        rel.startsWith(EXECUTABLE_QUERY)
          ? await askExecutable(sandbox, rel.slice(EXECUTABLE_QUERY.length))
          : await readBounded(sandbox, rel),
      );
  }
}

async function readBounded(sandbox: PolicyFileSource, rel: string): Promise<string | null | undefined> {
  const dir = path.posix.dirname(rel);
  let entries;
  try {
    entries = await sandbox.list(dir, { depth: 1 });
  } catch (err) {
    if (isFileError(err)) return null;
    throw err;
  }
  const want = path.posix.normalize(rel);
  const entry = entries.find(
    (e) =>
      path.posix.normalize(e.path) === want ||
      (path.posix.join(dir, path.posix.basename(e.path)) === want &&
        path.posix.basename(e.path) === path.posix.basename(want)),
  );
  // Listings leave out FIFOs, sockets and devices: a name missing from the listing is
  // absent only if reading it says so, otherwise it is something the check cannot trust.
  if (!entry) return (await absent(sandbox, rel)) ? null : undefined;
  if (entry.type !== 'file' || entry.size > MAX_POLICY_FILE_BYTES) return undefined;
  // A FIFO lists as an empty file: reading it would block, and what it yields later is
  // not what the check saw. An empty package.json or script says nothing either.
  if (entry.size === 0) return undefined;
  try {
    const bytes = await Promise.race([
      sandbox.readFile(rel),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000).unref()),
    ]);
    if (!bytes || bytes.length > MAX_POLICY_FILE_BYTES) return undefined;
    return Buffer.from(bytes).toString('utf8');
  } catch (err) {
    if (isFileError(err)) return undefined;
    throw err;
  }
}

async function absent(sandbox: PolicyFileSource, rel: string): Promise<boolean> {
  try {
    await Promise.race([sandbox.readFile(rel), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    return false;
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'ENOENT') return true;
    if (isFileError(err)) return false;
    throw err;
  }
}

/**
 * A file the agent made unreadable (errno codes, or the policy's own refusal of a path) is
 * unresolved; anything else (the sandbox gone, its service unreachable) is the
 * infrastructure's and propagates, so the tool call is retried rather than refused.
 */
function isFileError(err: unknown): boolean {
  if (err instanceof PolicyViolation) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

/**
 * Names set on the command line, layered: a child shell (subshell, pipeline part, `$()`)
 * gets a layer of its own over its parent's, so copying costs nothing and lookups walk as
 * deep as the nesting, not as long as the line.
 */
class Layered<V> {
  private readonly own = new Map<string, V>();
  constructor(private readonly parent?: Layered<V>) {}
  has(k: string): boolean {
    return this.own.has(k) || (this.parent?.has(k) ?? false);
  }
  get(k: string): V | undefined {
    return this.own.has(k) ? this.own.get(k) : this.parent?.get(k);
  }
  set(k: string, v: V): void {
    this.own.set(k, v);
  }
  /** Hides `k` in this layer (an alias expands once). */
  delete(k: string): void {
    this.own.set(k, undefined as V);
  }
  child(): Layered<V> {
    return new Layered(this);
  }
}

interface Scope {
  /** Variables the command line set; absent ones come from the environment, which is not known. */
  env: Layered<string | undefined>;
  /** A host path; undefined once a `cd` cannot be followed. */
  cwd: string | undefined;
  aliases: Layered<string | undefined>;
}

/** What a command reads on its standard input: text, nothing, or what cannot be known. */
type Stdin = { text: string } | 'none' | 'unknown';

const copyScope = (s: Scope): Scope => ({ env: s.env.child(), cwd: s.cwd, aliases: s.aliases.child() });
const freshScope = (cwd: string | undefined): Scope => ({ env: new Layered(), cwd, aliases: new Layered() });

class CommandCheck {
  private readonly rootReal: string;
  /** Paths this command line writes; a script among them cannot be read before it runs. */
  private readonly written = new Set<string>();
  private writesUnknown = false;
  private readonly visitedScripts = new Set<string>();

  constructor(
    private readonly cmd: string,
    private readonly policy: SafetyPolicy,
    private readonly root: string,
    private readonly files: WorkspaceFiles,
  ) {
    this.rootReal = realRoot(root);
  }

  run(cwd: string): void {
    this.source(this.cmd, freshScope(cwd), 0, false);
  }

  private violation(rule: string, detail: string): never {
    throw new PolicyViolation(rule, this.cmd, detail);
  }

  /**
   * The git and migration rules refuse what the policy cannot see through; with both off
   * there is nothing left to protect.
   */
  private unresolved(what: string): void {
    const rule = !this.policy.allowGit
      ? RULES.git
      : this.policy.migrationPatterns.length > 0
        ? RULES.migration
        : undefined;
    if (rule) this.violation(rule, `${what}; what the policy cannot resolve is refused`);
  }

  /** Checks shell text: the command line itself, or a `sh -c` string, package script or script file. */
  private source(text: string, scope: Scope, depth: number, lenient: boolean): void {
    checkPatterns(this.cmd, text, this.policy.extraForbiddenPatterns, RULES.pattern);
    if (depth > MAX_DEPTH) return this.unresolved('commands nested too deeply');
    let script: Script;
    try {
      script = parseShell(text);
    } catch (e) {
      if (!(e instanceof ShellSyntaxError)) throw e;
      return this.unresolved(`cannot parse the command (${e.message})`);
    }
    this.script(script, scope, depth, lenient);
  }

  private script(script: Script, scope: Scope, depth: number, lenient: boolean): void {
    for (const p of script.pipelines) {
      const many = p.commands.length > 1;
      let stdin: Stdin = 'none';
      for (const c of p.commands) {
        // Each part of a pipeline runs in a child shell.
        const s = many ? copyScope(scope) : scope;
        stdin = this.command(c, s, stdin, depth, lenient);
      }
    }
  }

  /** Checks `c` given what it reads; returns what it writes to its standard output, as far as known. */
  private command(c: Command, scope: Scope, piped: Stdin, depth: number, lenient: boolean): Stdin {
    const stdin = this.redirects(c.redirects, scope, piped);
    if (c.kind === 'group') {
      this.script(c.body, c.subshell ? copyScope(scope) : scope, depth, lenient);
      return 'unknown';
    }
    for (const a of c.assigns) if (a.value) this.substitutions(a.value, scope, depth, lenient);
    if (!lenient) {
      for (const a of c.assigns) if (a.name === 'PATH') this.pathValue(a.value?.raw);
      for (const w of c.words) if (/^PATH\+?=/.test(w.raw)) this.pathValue(w.raw.slice(w.raw.indexOf('=') + 1));
    }
    for (const w of c.words) this.substitutions(w, scope, depth, lenient);
    const argv = this.argv(c.words, scope);
    const assigned = new Map(
      [...c.assigns].map((a) => [a.name, a.value && this.resolve(a.value, scope).text] as const),
    );
    if (argv.length === 0) {
      for (const [k, v] of assigned) scope.env.set(k, v);
      return 'none';
    }
    const inner = copyScope(scope);
    for (const [k, v] of assigned) inner.env.set(k, v);
    this.program(argv, scope, inner, stdin, depth, lenient, false);
    const program = argv[0] && path.basename(argv[0]);
    const printed = literalOutput(argv);
    if (printed !== undefined) return { text: printed };
    if (program === 'cat' && argv.length === 1 && stdin !== 'none') return stdin;
    return 'unknown';
  }

  /**
   * A PATH set on the command line may only add system directories to the inherited one:
   * a directory the agent can write would make any program name run its script.
   */
  private pathValue(raw: string | undefined): void {
    const parts = raw === undefined ? [undefined] : raw.replace(/^["']|["']$/g, '').split(':');
    for (const p of parts) {
      if (p === '$PATH' || p === '${PATH}') continue;
      if (
        p === undefined ||
        !path.isAbsolute(p) ||
        /[$`*?]/.test(p) ||
        this.relative(p) !== undefined ||
        /^\/(tmp|var\/tmp|dev\/shm|home|root|proc)(\/|$)/.test(path.resolve(p))
      ) {
        return this.unresolved(`PATH=${raw ?? '?'} can make a program name run a file the policy cannot see`);
      }
    }
  }

  /** Notes what the redirections write and returns what the command reads. */
  private redirects(redirects: Redirect[], scope: Scope, piped: Stdin): Stdin {
    let stdin = piped;
    for (const r of redirects) {
      if (r.target) this.substitutions(r.target, scope, 0, false);
      if (r.body) this.substitutions(r.body, scope, 0, false);
      if (WRITE_REDIRECTS.has(r.op) && r.target) this.noteWrite(this.resolve(r.target, scope).text, scope);
      if (r.body) {
        const text = this.resolve(r.body, scope).text;
        stdin = text === undefined ? 'unknown' : { text: r.op === '<<<' ? text + '\n' : text };
      } else if (r.op === '<' && r.target) {
        const file = this.resolve(r.target, scope).text;
        stdin = file === undefined ? 'unknown' : { text: `\u0000file:${file}` };
      }
    }
    return stdin;
  }

  private noteWrite(target: string | undefined, scope: Scope): void {
    if (target === undefined || scope.cwd === undefined) this.writesUnknown = true;
    else if (target !== '/dev/null') this.written.add(path.resolve(scope.cwd, target));
  }

  /** Checks the command substitutions inside a word: each runs as a script of its own. */
  private substitutions(w: Word, scope: Scope, depth: number, lenient: boolean): void {
    for (const p of w.parts) {
      if (p.kind === 'sub') this.script(p.script, copyScope(scope), depth, lenient);
      else if (p.kind === 'var' && p.arg) this.substitutions(p.arg, scope, depth, lenient);
    }
  }

  /** The text a word expands to, when the policy can tell; `split` when it is subject to word splitting. */
  private resolve(w: Word, scope: Scope): { text: string | undefined; glob: boolean; split: boolean } {
    let text = '';
    let glob = false;
    let split = false;
    for (const p of w.parts) {
      if (p.kind === 'lit') {
        text += p.text;
        glob ||= p.glob;
        continue;
      }
      if (p.kind === 'arith') return { text: undefined, glob, split };
      if (!p.quoted) split = true;
      const value =
        p.kind === 'var' ? this.variable(p, scope) : p.fileName ? undefined : this.substitutionOutput(p.script, scope);
      if (value === undefined) return { text: undefined, glob, split };
      text += value;
    }
    return { text, glob, split };
  }

  private variable(p: Extract<WordPart, { kind: 'var' }>, scope: Scope): string | undefined {
    const known = scope.env.has(p.name);
    const value = scope.env.get(p.name);
    if (p.op === '') return value;
    if (p.op === '-' || p.op === ':-' || p.op === '=' || p.op === ':=') {
      if (!known) return undefined;
      const useArg = value === undefined ? false : p.op.startsWith(':') && value === '';
      return useArg && p.arg ? this.resolve(p.arg, scope).text : value;
    }
    return undefined;
  }

  /** `$(echo git)`, `$(printf git)`: the output of a literal echo; anything else is unknown. */
  private substitutionOutput(script: Script, scope: Scope): string | undefined {
    if (script.pipelines.length !== 1 || script.pipelines[0].commands.length !== 1) return undefined;
    const c = script.pipelines[0].commands[0];
    if (c.kind !== 'simple' || c.redirects.length > 0) return undefined;
    const argv = this.argv(c.words, scope);
    if (argv.some((a) => a === undefined)) return undefined;
    return literalOutput(argv);
  }

  /** The words after expansion: undefined where the policy cannot tell what they hold. */
  private argv(words: Word[], scope: Scope): Array<string | undefined> {
    const out: Array<string | undefined> = [];
    for (const w of words) {
      const r = this.resolve(w, scope);
      if (r.text === undefined) out.push(undefined);
      // A pattern or brace expansion as the program can spell any program.
      else if (r.glob && out.length === 0) out.push(undefined);
      // With IFS set on the line, splitting follows rules the policy does not model.
      else if (r.split && scope.env.has('IFS')) out.push(undefined);
      else if (r.split) out.push(...r.text.split(/[ \t\n]+/).filter((x) => x !== ''));
      else out.push(r.text);
    }
    return out;
  }

  /**
   * Checks one program with its arguments. `scope` is the shell's own (what `cd` and
   * assignments change); `inner` is what a child shell would see. `tailUnknown`: more
   * arguments come from input (xargs).
   */
  private program(
    argvIn: Array<string | undefined>,
    scope: Scope,
    inner: Scope,
    stdin: Stdin,
    depth: number,
    lenient: boolean,
    tailUnknown: boolean,
  ): void {
    let argv = argvIn;
    // Aliases: `alias g=git; g push` (each alias expands once, as in the shell).
    const first = argv[0];
    const expanded = first === undefined ? undefined : scope.aliases.get(first);
    if (first !== undefined && expanded !== undefined) {
      const rest = copyScope(scope);
      rest.aliases.delete(first);
      const quoted = argv.slice(1).map((a) => (a === undefined ? '"$__unresolved__"' : shellQuote(a)));
      return this.source([expanded, ...quoted].join(' '), rest, depth + 1, lenient);
    }
    // Wrappers: `env X=1 nice -n 5 timeout 10 xargs git`.
    for (;;) {
      if (argv[0] === undefined) {
        if (!lenient) this.unresolved(`cannot tell which program ${this.spelling(argv)} runs`);
        return;
      }
      const name = path.basename(argv[0]);
      const wrapper = WRAPPERS[name];
      if (!wrapper) break;
      let i = 1;
      while (i < argv.length) {
        const a = argv[i];
        if (a === undefined) {
          if (!lenient) this.unresolved(`cannot tell what ${name} runs`);
          return;
        }
        if (name === 'env' && (a === '-S' || a.startsWith('--split-string'))) {
          const script = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
          const after = argv.slice(a.includes('=') ? i + 1 : i + 2);
          if (script === undefined || after.some((x) => x === undefined))
            return this.unresolved('cannot tell what env -S runs');
          return this.source([script, ...after.map((x) => shellQuote(x!))].join(' '), inner, depth + 1, lenient);
        }
        if (name === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) {
          inner.env.set(a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
          i++;
        } else if ((name === 'npx' || name === 'flock') && a === '-c') {
          const script = argv[i + 1];
          if (script === undefined) return this.unresolved(`cannot tell what ${name} -c runs`);
          return this.source(script, inner, depth + 1, lenient);
        } else if (a === '--') {
          i++;
          break;
        } else if (a.startsWith('-') && a.length > 1) i += wrapper.valued.has(a) ? 2 : 1;
        else break;
      }
      for (let n = 0; n < (wrapper.operands ?? 0) && i < argv.length; n++) {
        // `timeout 10 cmd`, `flock FILE cmd`, `chroot DIR cmd`: one operand before the command.
        if (name === 'timeout' && !/^\d/.test(argv[i] ?? '')) break;
        if (name === 'taskset' && !/^(0x)?[0-9a-f,-]+$/i.test(argv[i] ?? '')) break;
        i++;
      }
      if (name === 'flock' && argv[i] === '-c') {
        const script = argv[i + 1];
        if (script === undefined) return this.unresolved('cannot tell what flock -c runs');
        return this.source(script, inner, depth + 1, lenient);
      }
      if (name === 'xargs' || name === 'parallel') {
        tailUnknown = true;
        // `parallel git ::: push`: what follows `:::` are the inputs.
        const inputs = argv.findIndex((a, n) => n >= i && (a === ':::' || a === '::::' || a === ':::+'));
        if (inputs !== -1) argv = argv.slice(0, inputs);
        if (i >= argv.length) argv = ['xargs', 'echo'];
        // `xargs -I{} git {}`: a word holding the placeholder is whatever the input says.
        const options = argv.slice(1, i);
        const at = options.findIndex((o) => o === '-I' || o === '--replace' || o?.startsWith('--replace='));
        const placeholder =
          name === 'parallel'
            ? '{'
            : options.includes('-i')
              ? '{}'
              : at === -1
                ? undefined
                : options[at]!.startsWith('--replace=')
                  ? options[at]!.slice(10)
                  : (options[at + 1] ?? '{}');
        if (placeholder !== undefined)
          argv = [...argv.slice(0, i + 1), ...argv.slice(i + 1).map((a) => (a?.includes(placeholder) ? undefined : a))];
      }
      if (name === 'command' && argv.slice(1, i).some((o) => o === '-v' || o === '-V')) return;
      if (i >= argv.length) return;
      argv = argv.slice(i);
      if (name === 'npx' || name === 'pnpx' || name === 'bunx') argv = [withoutVersion(argv[0]), ...argv.slice(1)];
    }

    const program = path.basename(argv[0]!);
    const args = argv.slice(1);
    const text = argv.map((a) => (a === undefined ? '?' : a)).join(' ');
    checkPatterns(this.cmd, text, this.policy.migrationPatterns, RULES.migration);
    checkPatterns(this.cmd, text, this.policy.extraForbiddenPatterns, RULES.pattern);

    const interpreter = INTERPRETERS.find((x) => x.match.test(program));
    if (
      tailUnknown &&
      (SHELLS.has(program) || interpreter || ['eval', 'source', '.', 'su', 'sg', 'watch', 'script'].includes(program))
    ) {
      return this.unresolved(`cannot tell what ${program} runs: its arguments come from input`);
    }
    if (SHELLS.has(program) || program === 'su' || program === 'sg')
      return this.shell(program, args, inner, stdin, depth, lenient);
    if (program === 'eval') {
      if (args.some((a) => a === undefined) || tailUnknown) return this.unresolved('cannot tell what eval runs');
      return this.source(args.join(' '), scope, depth + 1, lenient);
    }
    if (program === 'source' || program === '.') return this.scriptFile(args[0], scope, depth, 'shell');
    if (program === 'watch' || program === 'script') {
      // Both hand their command to a shell: `watch 'git push'`, `script -c 'git push'`.
      const at =
        program === 'script'
          ? args.findIndex((a) => a !== undefined && /^-[a-zA-Z]*c$|^--command$/.test(a)) + 1
          : args.findIndex((a, i) => a !== undefined && !a.startsWith('-') && !/^-(n|d|x)$/.test(args[i - 1] ?? ''));
      if (at <= 0 && program === 'script') return;
      const rest = args.slice(at);
      if (rest.some((a) => a === undefined)) return this.unresolved(`cannot tell what ${program} runs`);
      return this.source(rest.join(' '), inner, depth + 1, lenient);
    }
    // `git-commit` (git-core's names for its subcommands) is `git commit`.
    const gitAlias = /^git-(.+)$/.exec(program);
    if (gitAlias) return this.program(['git', gitAlias[1], ...args], scope, inner, stdin, depth, lenient, tailUnknown);
    // A program spelled as a path may be a link to git, or a copy of it, made in an earlier
    // call: what it is, is asked of the sandbox (realpath and a byte comparison with git).
    if (
      program !== 'git' &&
      argv[0]!.includes('/') &&
      !this.policy.allowGit &&
      this.executable(argv[0]!, scope) === 'git'
    ) {
      return this.program(['git', ...args], scope, inner, stdin, depth, lenient, tailUnknown);
    }
    if (program === 'git') {
      if (!this.policy.allowGit) {
        // Variables that make git run a program or read config of the agent's choosing.
        const risky = [
          'GIT_CONFIG_COUNT',
          'GIT_CONFIG_PARAMETERS',
          'GIT_CONFIG',
          'GIT_CONFIG_GLOBAL',
          'GIT_CONFIG_SYSTEM',
          'GIT_EXEC_PATH',
          'GIT_SSH',
          'GIT_SSH_COMMAND',
          'GIT_PAGER',
          'GIT_EDITOR',
          'GIT_SEQUENCE_EDITOR',
          'GIT_EXTERNAL_DIFF',
          'GIT_ASKPASS',
          'GIT_PROXY_COMMAND',
          'PAGER',
          'EDITOR',
          'VISUAL',
          'HOME',
          'XDG_CONFIG_HOME',
        ].find((v) => inner.env.has(v));
        if (risky) this.violation(RULES.git, `git with ${risky} set can run a program of the agent's choosing`);
        checkGit(this.cmd, args, tailUnknown, (w) => this.unresolved(w));
      }
      return;
    }
    if (program === 'find') return this.find(args, scope, inner, depth, lenient);
    if (['rm', 'rmdir', 'unlink', 'shred'].includes(program))
      return this.deletes(program, args, scope, lenient, tailUnknown);
    if (program === 'cd' || program === 'pushd' || program === 'popd') {
      const target = args.find((a) => a === undefined || !a.startsWith('-'));
      scope.cwd =
        program === 'popd' || target === undefined || scope.cwd === undefined || args.length === 0
          ? undefined
          : path.resolve(scope.cwd, target);
      return;
    }
    if (program === 'alias' || (program === 'hash' && args[0] === '-p')) return this.alias(program, args, scope);
    if (['export', 'declare', 'typeset', 'local', 'readonly'].includes(program)) {
      for (const a of args) {
        if (a === undefined) continue;
        const m = a.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s);
        if (m) scope.env.set(m[1], m[2]);
      }
      return;
    }
    if (['read', 'mapfile', 'readarray', 'getopts', 'unset', 'printf', 'let'].includes(program)) {
      // What they assign is not known: `read G <<< git; $G push` must not resolve $G.
      for (const a of args) if (a !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(a)) scope.env.set(a, undefined);
      if (program !== 'printf' && program !== 'let') return;
    }
    if (PACKAGE_MANAGERS.has(program)) return this.packageManager(program, args, scope, depth, lenient);
    if (program === 'make' || program === 'gmake') return this.make(args, scope, inner, depth);
    if (interpreter) return this.interpreter(program, interpreter, args, scope, stdin, lenient);
    if (/^(awk|gawk|mawk|nawk|busybox-awk)$/.test(program)) {
      const code = args.find((a) => a === undefined || !a.startsWith('-'));
      if (code === undefined) return lenient ? undefined : this.unresolved('cannot tell what awk program runs');
      if (/system\s*\(|\|\s*getline|print[^;]*\|/.test(code)) this.scanCode(code, 'awk');
      // `print > "run.sh"`: a file named inside the program (a comparison looks the same; both count).
      if (code.includes('>')) this.writesUnknown = true;
      return;
    }
    this.notePrograms(program, args, scope);
    if (argv[0]!.includes('/')) this.scriptFile(argv[0], scope, depth, 'exec');
  }

  /**
   * Writes by file tools, so a script written and run in one line is caught: where a tool
   * names its output the path is noted, and a tool whose outputs the policy cannot name
   * (an archive, an editor, `split`) counts as writing anything.
   */
  private notePrograms(program: string, args: Array<string | undefined>, scope: Scope): void {
    const operands = args.filter((a) => a === undefined || !a.startsWith('-'));
    const valueOf = (...names: string[]): string | undefined | null => {
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a === undefined) continue;
        for (const n of names) {
          if (a === n) return args[i + 1];
          if (n.startsWith('--') && a.startsWith(`${n}=`)) return a.slice(n.length + 1);
        }
      }
      return null;
    };
    const target = ['cp', 'mv', 'ln', 'install'].includes(program) ? valueOf('-t', '--target-directory') : null;
    if (target !== null) return this.noteWrite(target, scope);
    if (WRITES_UNNAMED.has(program)) {
      // A compressor told to write to its standard output writes no file.
      if (
        !/^(gzip|gunzip|bzip2|bunzip2|xz|unxz|lzma|unlzma|zstd|unzstd|lz4)$/.test(program) ||
        !args.some(
          (a) =>
            a === '-c' ||
            a === '--stdout' ||
            a === '--to-stdout' ||
            (a !== undefined && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a)),
        )
      )
        this.writesUnknown = true;
      return;
    }
    if (program === 'sponge') this.noteWrite(operands[0], scope);
    else if (program === 'sort') {
      const out = valueOf('-o', '--output');
      if (out !== null) this.noteWrite(out, scope);
    } else if (program === 'uniq') {
      if (operands.length > 1) this.noteWrite(operands[1], scope);
    } else if (program === 'openssl') {
      const out = valueOf('-out');
      if (out !== null) this.noteWrite(out, scope);
    } else if (program === 'xxd') {
      if (args.some((a) => a === '-r' || a === '-revert') && operands.length > 1) this.noteWrite(operands[1], scope);
    } else if (program === 'uudecode') {
      const out = valueOf('-o', '--output-file');
      if (out === null) this.writesUnknown = true;
      else this.noteWrite(out, scope);
    } else if (program === 'tee' || program === 'mkfifo') for (const a of operands) this.noteWrite(a, scope);
    else if (program === 'mknod') this.noteWrite(operands[0], scope);
    else if (program === 'dd') {
      for (const a of args) if (a?.startsWith('of=')) this.noteWrite(a.slice(3), scope);
    } else if (['cp', 'mv', 'ln', 'install', 'rsync'].includes(program))
      this.noteWrite(operands[operands.length - 1], scope);
    else if (program === 'curl' || program === 'wget') {
      const at = args.findIndex((a) => a === '-o' || a === '--output' || a === '-O' || a === '--output-document');
      if (at !== -1 && args[at] !== '-O') this.noteWrite(args[at + 1], scope);
      else if (program === 'wget' || args.some((a) => a === '-O' || a === '--remote-name' || a === '-J'))
        this.writesUnknown = true;
    } else if (program === 'sed') {
      if (args.some((a) => a?.startsWith('-i') || a === '--in-place'))
        for (const a of operands.slice(1)) this.noteWrite(a, scope);
      // The `w FILE` command and the `w` flag of `s///` write a file named in the script.
      if (args.some((a) => a === undefined || /(^|[;}\n/])\s*[0-9gpIiMme]*[wW]\s/.test(a))) this.writesUnknown = true;
    }
  }

  private alias(program: string, args: Array<string | undefined>, scope: Scope): void {
    if (program === 'hash') {
      // `hash -p /usr/bin/git g` makes `g` run git.
      if (args[1] === undefined || args[2] === undefined) return this.unresolved('cannot tell what hash -p maps');
      scope.aliases.set(args[2], shellQuote(args[1]));
      return;
    }
    for (const a of args) {
      if (a === undefined) return this.unresolved('cannot tell what alias defines');
      const eq = a.indexOf('=');
      if (eq > 0) scope.aliases.set(a.slice(0, eq), a.slice(eq + 1));
    }
  }

  private shell(
    program: string,
    args: Array<string | undefined>,
    inner: Scope,
    stdin: Stdin,
    depth: number,
    lenient: boolean,
  ): void {
    // A shell first runs the file BASH_ENV (bash) or ENV (sh) names.
    for (const startup of ['BASH_ENV', 'ENV'])
      if (inner.env.has(startup)) this.scriptFile(inner.env.get(startup), inner, depth, 'shell');
    let commandString = false;
    let fromStdin = false;
    let i = 0;
    for (; i < args.length; i++) {
      const a = args[i];
      if (a === undefined) return this.unresolved(`cannot tell what ${program} runs`);
      if (a === '--' || a === '-') {
        i++;
        break;
      }
      if (/^[-+]o$|^-O$|^--(rcfile|init-file)$|^-[gG]$/.test(a) && program !== 'su') i++;
      else if (program === 'su' && /^-(c|-command)$/.test(a)) commandString = true;
      else if (program === 'su' && /^-(s|-shell|g|G|-group|w)$/.test(a)) i++;
      else if (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(a)) commandString = true;
      else if (/^-[a-zA-Z]*s[a-zA-Z]*$/.test(a) && program !== 'su') fromStdin = true;
      else if (!a.startsWith('-') && !a.startsWith('+')) break;
    }
    const operands = args.slice(i);
    if (program === 'sg' || program === 'su') {
      if (commandString && operands.length > 0 && program === 'su') operands.shift();
      if (!commandString) return;
    }
    if (commandString) {
      const script = operands[0];
      if (script === undefined) return this.unresolved(`cannot tell what ${program} -c runs`);
      const s = copyScope(inner);
      operands.slice(1).forEach((v, n) => s.env.set(String(n), v));
      s.env.set(
        '@',
        operands.slice(2).every((v) => v !== undefined)
          ? operands
              .slice(2)
              .map((v) => shellQuote(v!))
              .join(' ')
          : undefined,
      );
      return this.source(script, s, depth + 1, lenient);
    }
    if (!fromStdin && operands.length > 0) return this.scriptFile(operands[0], inner, depth, 'shell');
    // The shell reads its script from standard input.
    if (stdin === 'none') return;
    if (stdin === 'unknown') return this.unresolved(`cannot tell what ${program} reads from its input`);
    if (stdin.text.startsWith('\u0000file:')) return this.scriptFile(stdin.text.slice(6), inner, depth, 'shell');
    return this.source(stdin.text, copyScope(inner), depth + 1, lenient);
  }

  /**
   * A script file the command runs. Read through the sandbox and checked as a shell script
   * (leniently: it is repository text, where `$CMD "$@"` is ordinary), except when this
   * same command line writes it or it cannot be read: then it is refused.
   */
  private scriptFile(file: string | undefined, scope: Scope, depth: number, how: 'shell' | 'exec'): void {
    if (file === undefined) return this.unresolved('cannot tell which script runs');
    if (file.startsWith('\u0000')) return this.unresolved('cannot tell which script runs');
    if (scope.cwd === undefined && !path.isAbsolute(file)) return this.unresolved(`cannot tell where ${file} is`);
    const abs = path.resolve(scope.cwd ?? '/', file);
    if (this.writesUnknown || [...this.written].some((w) => abs === w || abs.startsWith(w + path.sep))) {
      return this.unresolved(`${file} is written by this same command, so the policy cannot read it first`);
    }
    const rel = this.relative(abs);
    if (rel === undefined) {
      // Outside the workspace: the system's programs are fine; a script in tmp or home is the agent's.
      if (
        how === 'shell' ||
        /^\/(tmp|var\/tmp|dev\/shm|home|root|proc|dev\/fd)\//.test(abs) ||
        abs.startsWith('/dev/stdin')
      ) {
        this.unresolved(`${file} is outside the workspace, where the policy cannot read it`);
      }
      return;
    }
    const text = this.files(rel);
    if (text === PENDING || text === null) return;
    if (text === undefined) {
      if (how === 'shell') this.unresolved(`cannot read ${file}`);
      return;
    }
    if (text.includes('\u0000')) {
      if (how === 'shell') this.unresolved(`${file} is not a text script`);
      return this.mayWriteAnything();
    }
    const shebang = text.startsWith('#!')
      ? text.slice(0, text.indexOf('\n') === -1 ? undefined : text.indexOf('\n'))
      : '';
    if (how === 'exec' && shebang && !/\b(sh|bash|dash|zsh|ksh|ash)\b/.test(shebang)) return;
    const key = `file:${rel}`;
    if (this.visitedScripts.has(key)) return;
    this.visitedScripts.add(key);
    this.source(text, freshScope(scope.cwd), depth + 1, true);
  }

  /**
   * What the file a program path names really is, as the sandbox sees it: `git` when it
   * resolves to git or a byte-for-byte copy of it. Undefined while the answer is pending or
   * cannot be had (no sandbox to ask: a plain check of the words).
   */
  private executable(file: string, scope: Scope): 'git' | 'other' | undefined {
    if (scope.cwd === undefined && !path.isAbsolute(file))
      return (this.unresolved(`cannot tell where ${file} is`), undefined);
    const abs = path.resolve(scope.cwd ?? '/', file);
    if (this.writesUnknown || [...this.written].some((w) => abs === w || abs.startsWith(w + path.sep))) {
      return (
        this.unresolved(`${file} is written by this same command, so the policy cannot tell what it is`),
        undefined
      );
    }
    const answer = this.files(`${EXECUTABLE_QUERY}${abs}`);
    if (answer === 'git') return 'git';
    return answer === PENDING || answer === undefined ? undefined : 'other';
  }

  /**
   * A program file and the workspace modules it imports, as far as they go: each is
   * scanned like the file itself. A relative import that names no readable file, or an
   * import built at run time, is unresolved; a bare name with no file in the workspace is
   * the language's own or an installed package's, which the agent did not write here.
   */
  private programFile(abs: string, text: string, program: string, seen: Set<string>): void {
    this.scanCode(text, program, 'file');
    if (this.policy.allowGit && this.policy.migrationPatterns.length === 0) return;
    const python = /^python|^pypy/.test(program);
    const node = /^(node|nodejs|bun|deno)$/.test(program);
    if (!python && !node) return;
    const dir = path.dirname(abs);
    const imports: string[][] = [];
    if (python) {
      if (/\b(importlib|__import__|runpy|imp\.load_source|exec\s*\(\s*open)\b/.test(text))
        return this.unresolved(`${path.basename(abs)} imports modules named at run time`);
      const names: string[] = [];
      for (const m of text.matchAll(/^[ \t]*import[ \t]+([\w., \t]+)/gm))
        names.push(...m[1].split(',').map((x) => x.trim().split(/\s+/)[0]));
      for (const m of text.matchAll(/^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\(?([\w, \t*]+)/gm)) {
        const base = path.resolve(dir, ...Array(Math.max(0, m[1].length - 1)).fill('..'));
        const mod = m[2] ? path.join(base, ...m[2].split('.')) : base;
        if (m[1]) {
          // `from . import x` may name a submodule: each name is a candidate too.
          imports.push([`${mod}.py`, path.join(mod, '__init__.py')]);
          for (const n of m[3]
            .split(',')
            .map((x) => x.trim().split(/\s+/)[0])
            .filter((x) => x && x !== '*'))
            imports.push([path.join(mod, `${n}.py`), path.join(mod, n, '__init__.py'), 'optional']);
        } else names.push(m[2]);
      }
      for (const n of names.filter(Boolean)) {
        const mod = path.join(dir, ...n.split('.'));
        imports.push([`${mod}.py`, path.join(mod, '__init__.py'), 'optional']);
      }
    } else {
      if (/\b(require|import)\s*\(\s*[^'"`\s)]/.test(text))
        return this.unresolved(`${path.basename(abs)} imports modules named at run time`);
      for (const m of text.matchAll(
        /(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s+|\bimport\s+)['"`](\.{1,2}\/[^'"`]+)['"`]/g,
      )) {
        const mod = path.resolve(dir, m[1]);
        imports.push([
          mod,
          ...['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts', '.json'].map((e) => mod + e),
          ...['index.js', 'index.mjs', 'index.ts'].map((f) => path.join(mod, f)),
        ]);
      }
    }
    for (const candidates of imports) {
      const optional = candidates[candidates.length - 1] === 'optional';
      const files = optional ? candidates.slice(0, -1) : candidates;
      let resolved = false;
      for (const file of files) {
        if (seen.has(file)) {
          resolved = true;
          break;
        }
        const rel = this.relative(file);
        if (rel === undefined) continue;
        if (this.writesUnknown || [...this.written].some((w) => file === w || file.startsWith(w + path.sep)))
          return this.unresolved(`${rel} is written by this same command, so the policy cannot read it first`);
        const t = this.files(rel);
        if (t === PENDING) return;
        if (t === null) continue;
        if (t === undefined) return this.unresolved(`cannot read ${rel}, which ${path.basename(abs)} imports`);
        resolved = true;
        if (seen.size >= 64) return this.unresolved(`${path.basename(abs)} imports too many modules to follow`);
        seen.add(file);
        if (!t.includes('\u0000') && !file.endsWith('.json')) this.programFile(file, t, program, seen);
        break;
      }
      if (!resolved && !optional)
        return this.unresolved(`cannot find ${path.relative(dir, files[0])}, which ${path.basename(abs)} imports`);
    }
  }

  private relative(abs: string): string | undefined {
    const real = resolveLoosely(abs);
    if (real !== this.rootReal && !real.startsWith(this.rootReal + path.sep)) return undefined;
    return path.relative(this.rootReal, real).split(path.sep).join('/') || '.';
  }

  private interpreter(
    program: string,
    spec: (typeof INTERPRETERS)[number],
    args: Array<string | undefined>,
    scope: Scope,
    stdin: Stdin,
    lenient: boolean,
  ): void {
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === undefined) return this.unresolved(`cannot tell what ${program} runs`);
      const eq = a.match(/^(--eval|--print)=(.*)$/s);
      // Code the line hands an interpreter, or a program it runs, may write any file.
      if (eq) return (this.scanCode(eq[2], program), this.mayWriteAnything());
      if (spec.code.test(a)) {
        const code = args[i + 1];
        if (code === undefined) return this.unresolved(`cannot tell what code ${program} runs`);
        // Code may start what its own arguments say: `node -e 'exec(process.argv[1])' 'git push'`.
        const rest = args.slice(i + 2);
        if (rest.some((x) => x === undefined)) return this.unresolved(`cannot tell what ${program} is given`);
        return (this.scanCode([code, ...rest].join(' '), program), this.mayWriteAnything());
      }
      if (spec.noStdin?.has(a)) return;
      if (a === '-') break;
      if (spec.valued.has(a)) i++;
      else if (!a.startsWith('-')) {
        // A program file: refused when this same command writes it; otherwise read (through
        // the sandbox) for git libraries, and for git writes and migrations when it can start
        // processes. Test runners (`node --test`, `-m pytest`) stop before this.
        const abs = scope.cwd === undefined ? undefined : path.resolve(scope.cwd, a);
        if (
          this.writesUnknown ||
          abs === undefined ||
          [...this.written].some((w) => abs === w || abs.startsWith(w + path.sep))
        ) {
          return this.unresolved(`${a} is written by this same command, so the policy cannot read it first`);
        }
        const rel = this.relative(abs);
        const text = rel === undefined ? undefined : this.files(rel);
        if (typeof text === 'string' && !text.includes('\u0000')) this.programFile(abs, text, program, new Set([abs]));
        return;
      }
    }
    if (stdin === 'none') return;
    if (stdin === 'unknown' || stdin.text.startsWith('\u0000file:')) {
      if (!lenient) this.unresolved(`cannot tell what code ${program} reads from its input`);
      return this.mayWriteAnything();
    }
    this.scanCode(stdin.text, program);
    this.mayWriteAnything();
  }

  /**
   * After code the line itself hands an interpreter, or a binary from the workspace the
   * policy cannot read: it may have written any file, so a script the same line runs next
   * cannot be read first. The agent can run that in a call of its own. (A program file the
   * policy reads, or a test runner, is not held to this: its writes are not followed.)
   */
  private mayWriteAnything(): void {
    this.writesUnknown = true;
  }

  /**
   * Code for an interpreter: looks for git writes, git libraries and migrations in it, and
   * refuses code that starts processes from strings built at run time.
   */
  /**
   * `from: 'file'` is a program in the repository: only a git library, or a git write or
   * migration in code that can start processes, counts there (a message that mentions
   * `git push` is ordinary), and building strings is not held against it.
   */
  private scanCode(code: string | undefined, program: string, from: 'line' | 'file' = 'line'): void {
    if (code === undefined) return this.unresolved(`cannot tell what code ${program} runs`);
    if (!this.policy.allowGit && GIT_LIBRARIES.test(code))
      this.violation(RULES.git, `${program} code uses a git library; the worker commits and pushes, not the agent`);
    const spawns = SPAWNS.test(code);
    if (from === 'file' && !spawns) return;
    const flat = code.replace(/[\s'"`,;()[\]{}+]+/g, ' ');
    if (!this.policy.allowGit) {
      const tokens = flat.split(' ');
      tokens.forEach((t, i) => {
        if (t === 'git' || t.endsWith('/git')) checkGit(this.cmd, tokens.slice(i + 1, i + 9), false, () => undefined);
      });
    }
    checkPatterns(this.cmd, flat, this.policy.migrationPatterns, RULES.migration);
    if (from === 'line' && spawns && OBFUSCATES.test(code))
      this.unresolved(`cannot tell what the ${program} code starts`);
  }

  private find(args: Array<string | undefined>, scope: Scope, inner: Scope, depth: number, lenient: boolean): void {
    let execsDelete = false;
    for (let i = 0; i < args.length; i++)
      if (['-fprint', '-fprint0', '-fprintf', '-fls'].includes(args[i] ?? '')) this.noteWrite(args[i + 1], scope);
    for (let i = 0; i < args.length; i++) {
      if (!['-exec', '-execdir', '-ok', '-okdir'].includes(args[i] ?? '')) continue;
      let end = args.findIndex((w, j) => j > i && (w === ';' || w === '+' || w === '\\;'));
      if (end === -1) end = args.length;
      const exec = args.slice(i + 1, end);
      const execProgram = path.basename(exec[0] ?? '');
      if (['rm', 'rmdir', 'unlink', 'shred', 'xargs', 'eval', 'mv'].includes(execProgram) || SHELLS.has(execProgram))
        execsDelete = true;
      // `{}` names files under the starting points, which are checked below.
      const s = copyScope(inner);
      this.program(
        exec.map((w) => (w === '{}' ? '.' : w)),
        s,
        copyScope(s),
        'none',
        depth + 1,
        lenient,
        false,
      );
      i = end;
    }
    if (this.policy.allowDeleteOutside) return;
    if (!args.includes('-delete') && !execsDelete) return;
    const starts: Array<string | undefined> = [];
    for (const w of args) {
      if (w !== undefined && (w.startsWith('-') || w === '!' || w === '(')) break;
      starts.push(w);
    }
    for (const s of starts.length > 0 ? starts : ['.']) this.deleteTarget(s, scope, lenient, true);
  }

  private deletes(
    program: string,
    args: Array<string | undefined>,
    scope: Scope,
    lenient: boolean,
    tailUnknown: boolean,
  ): void {
    if (this.policy.allowDeleteOutside) return;
    if (tailUnknown)
      this.violation(
        RULES.delete,
        `${program} takes its targets from input, so the policy cannot tell where they are; use find -delete`,
      );
    let optionsEnded = false;
    for (const w of args) {
      if (!optionsEnded && w === '--') optionsEnded = true;
      else if (optionsEnded || w === undefined || !w.startsWith('-')) this.deleteTarget(w, scope, lenient);
    }
  }

  private deleteTarget(target: string | undefined, scope: Scope, lenient: boolean, recursiveFromHere = false): void {
    if (target === undefined || scope.cwd === undefined) {
      if (lenient) return;
      this.violation(
        RULES.delete,
        `cannot tell where ${target ?? 'a target'} points; use a path relative to the workspace`,
      );
    }
    checkDeleteTarget(this.cmd, target, this.root, scope.cwd, recursiveFromHere);
  }

  /**
   * `make [targets]`: the recipes of the named targets (else the first one) and of what
   * they depend on, read from the Makefile through the sandbox, with the Makefile's and the
   * command line's variables expanded, checked as shell text (leniently: the Makefile is
   * repository text). `$(shell …)` and `!=` anywhere run too. What cannot be read or
   * followed (`--eval`, a makefile from stdin, an unreadable include) is unresolved.
   */
  private make(args: Array<string | undefined>, scope: Scope, inner: Scope, depth: number): void {
    let dir = scope.cwd;
    const files: string[] = [];
    const targets: string[] = [];
    const vars = new Map<string, string>();
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === undefined) return this.unresolved('cannot tell what make is asked to run');
      const valued = a.match(
        /^(-f|--file|--makefile|-C|--directory|-I|--include-dir|-o|--old-file|--assume-old|-W|--what-if|--new-file|--assume-new|-j|--jobs|-l|--load-average|-O|--output-sync)(=(.*))?$/s,
      );
      if (valued) {
        const value = valued[2]
          ? valued[3]
          : ['-j', '--jobs', '-l', '--load-average', '-O', '--output-sync'].includes(valued[1]) &&
              !/^\d/.test(args[i + 1] ?? '')
            ? ''
            : args[++i];
        if (value === undefined) return this.unresolved('cannot tell what make is given');
        if (['-f', '--file', '--makefile'].includes(valued[1])) files.push(value);
        if (['-C', '--directory'].includes(valued[1])) dir = dir === undefined ? undefined : path.resolve(dir, value);
      } else if (/^-C./.test(a)) dir = dir === undefined ? undefined : path.resolve(dir, a.slice(2));
      else if (/^-f./.test(a)) files.push(a.slice(2));
      else if (a.startsWith('--eval')) return this.unresolved('make --eval runs text the policy does not follow');
      else if (a.startsWith('-')) continue;
      else if (/^[A-Za-z_][A-Za-z0-9_.-]*:?=/.test(a))
        vars.set(a.slice(0, a.indexOf('=')).replace(/:$/, ''), a.slice(a.indexOf('=') + 1));
      else targets.push(a);
    }
    if (dir === undefined) return this.unresolved('cannot tell which Makefile make reads');
    if (files.includes('-') || files.some((f) => f.startsWith('/dev/')))
      return this.unresolved('make reads its makefile from input');
    const candidates =
      files.length > 0
        ? files.map((f) => path.resolve(dir!, f))
        : ['GNUmakefile', 'makefile', 'Makefile'].map((f) => path.join(dir!, f));
    const texts: string[] = [];
    // 'stop': pending (asked of the sandbox) or unresolved (refused, or no rule to refuse by).
    const read = (abs: string, required: boolean, nesting: number): 'read' | 'absent' | 'stop' => {
      const stop = (why: string): 'stop' => {
        this.unresolved(why);
        return 'stop';
      };
      if (this.writesUnknown || [...this.written].some((w) => abs === w || abs.startsWith(w + path.sep)))
        return stop(`${abs} is written by this same command, so the policy cannot read it first`);
      const rel = this.relative(abs);
      if (rel === undefined) return stop(`${abs} is outside the workspace, where the policy cannot read it`);
      const text = this.files(rel);
      if (text === PENDING) return 'stop';
      if (text === null) return required ? stop(`cannot read ${rel}`) : 'absent';
      if (text === undefined || text.includes('\u0000')) return stop(`cannot read ${rel}`);
      texts.push(text);
      for (const m of text.matchAll(/^[ ]*(-?include|sinclude)[ \t]+(.+)$/gm)) {
        for (const inc of m[2].trim().split(/\s+/)) {
          if (nesting >= 4) return stop('makefiles include each other too deeply');
          if (/[$%*?[]/.test(inc)) return stop(`cannot tell which file make includes (${inc})`);
          if (read(path.resolve(dir!, inc), m[1] === 'include', nesting + 1) === 'stop') return 'stop';
        }
      }
      return 'read';
    };
    let found = false;
    for (const abs of candidates) {
      const r = read(abs, files.length > 0, 0);
      if (r === 'stop') return;
      if (r === 'read') {
        found = true;
        if (files.length === 0) break;
      }
    }
    if (!found) return;
    const makefile = parseMakefile(texts.join('\n'));
    // The command line's variables, then the environment's, below the Makefile's own.
    for (const [k, v] of makefile.vars) if (!vars.has(k)) vars.set(k, v);
    const expand = (text: string): string => {
      let out = text;
      for (let round = 0; round < 8; round++) {
        const next = out.replace(
          /\$[({]([A-Za-z_][A-Za-z0-9_.-]*)[)}]|\$([A-Za-z_])(?![A-Za-z0-9_(])/g,
          (whole, long?: string, short?: string) => {
            const name = long ?? short!;
            const value = vars.get(name) ?? (inner.env.has(name) ? inner.env.get(name) : undefined);
            return value === undefined ? whole : value;
          },
        );
        if (next === out) break;
        out = next;
      }
      // Automatic variables name files; `$$` is a literal `$` for the shell.
      return out.replace(/\$[@<^*?+|%]|\$[({][@<^*?+|%][DF]?[)}]/g, 'target').replace(/\$\$/g, '$');
    };
    const shellTexts: string[] = [...makefile.shellCalls];
    const wanted = targets.length > 0 ? targets : makefile.firstTarget ? [makefile.firstTarget] : [];
    const seen = new Set<string>();
    const queue = [...wanted];
    let patternRulesNeeded = false;
    while (queue.length > 0 && seen.size < 500) {
      const t = queue.shift()!;
      if (seen.has(t)) continue;
      seen.add(t);
      const rule = makefile.rules.get(t);
      if (!rule) {
        patternRulesNeeded = true;
        continue;
      }
      shellTexts.push(...rule.recipe);
      for (const dep of rule.deps.flatMap((d) => expand(d).split(/\s+/)).filter(Boolean)) queue.push(dep);
    }
    if (patternRulesNeeded)
      for (const [t, rule] of makefile.rules) if (t.includes('%')) shellTexts.push(...rule.recipe);
    for (const text of shellTexts) {
      const line = expand(text).replace(/^[@+-]+/, '');
      if (line.trim()) this.source(line, freshScope(dir), depth + 1, true);
    }
  }

  /** `npm run X`, `npm test`, `yarn X`, `pnpm X`, `bun run X`, and the install lifecycle: the package.json scripts they run. */
  private packageManager(
    manager: string,
    args: Array<string | undefined>,
    scope: Scope,
    depth: number,
    lenient: boolean,
  ): void {
    let dir = scope.cwd;
    let workspaceUnknown = false;
    const operands: Array<string | undefined> = [];
    let passThrough = false;
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (passThrough) {
        operands.push(a);
        continue;
      }
      if (a === undefined) {
        operands.push(a);
        continue;
      }
      if (a === '--') {
        passThrough = true;
        continue;
      }
      const dirOption = a.match(/^(--prefix|-C|--cwd|--dir|--cd)(=(.*))?$/s);
      const workspaceOption = a.match(/^(-w|--workspace|--filter|-F|--cwd)(=(.*))?$/s);
      if (dirOption) {
        const value = dirOption[2] ? dirOption[3] : args[++i];
        dir = value === undefined || dir === undefined ? undefined : path.resolve(dir, value);
      } else if (workspaceOption || a === '--workspaces' || a === '-ws' || a === '-r' || a === '--recursive') {
        workspaceUnknown = true;
        if (workspaceOption && !workspaceOption[2]) i++;
      } else if (a.startsWith('-')) {
        if (/^--(loglevel|registry|cache|userconfig|tag|reporter)$/.test(a)) i++;
      } else operands.push(a);
    }
    const verb = operands[0];
    let scripts: string[] = [];
    let extra = operands.slice(1);
    if (verb === undefined) {
      if (manager === 'npm') return;
      scripts = INSTALL_SCRIPTS;
    } else if (['run', 'run-script', 'rum', 'urn'].includes(verb)) {
      if (operands[1] === undefined)
        return operands.length > 1 ? this.unresolved(`cannot tell which script ${manager} runs`) : undefined;
      scripts = [operands[1]];
      extra = operands.slice(2);
    } else if (['test', 't', 'tst', 'start', 'stop', 'restart'].includes(verb)) {
      if (manager === 'bun' && verb === 'test') return;
      const name = verb.startsWith('t') ? 'test' : verb;
      scripts = verb === 'restart' ? ['restart', 'stop', 'start'] : [name];
    } else if (INSTALL_VERBS.has(verb)) {
      scripts = INSTALL_SCRIPTS;
      extra = [];
    } else if (['exec', 'x', 'dlx'].includes(verb) || (manager === 'bun' && verb === 'x')) {
      const s = copyScope(scope);
      s.cwd = dir;
      return this.program(
        [withoutVersion(operands[1]), ...operands.slice(2)],
        s,
        copyScope(s),
        'none',
        depth + 1,
        lenient,
        false,
      );
    } else if (PACKAGE_JSON_WRITERS.has(verb)) {
      // `npm pkg set scripts.test=…` rewrites the scripts a later `npm test` on this line runs.
      if (dir === undefined) this.writesUnknown = true;
      else this.written.add(path.join(dir, 'package.json'));
      return;
    } else if (manager === 'npm' || MANAGER_BUILTINS.has(verb)) {
      return;
    } else {
      // `yarn X`, `pnpm X`, `bun X`: a script when package.json has one, else a program of node_modules/.bin.
      const s = copyScope(scope);
      s.cwd = dir;
      this.program([withoutVersion(verb), ...operands.slice(1)], s, copyScope(s), 'none', depth + 1, lenient, false);
      scripts = [verb];
    }
    if (scripts.some((s) => s === undefined)) return this.unresolved(`cannot tell which script ${manager} runs`);
    if (workspaceUnknown) return this.unresolved(`cannot tell which workspace's scripts ${manager} runs`);
    if (dir === undefined) return this.unresolved(`cannot tell which package.json ${manager} reads`);
    const pkg = path.join(dir, 'package.json');
    if (this.writesUnknown || this.written.has(pkg))
      return this.unresolved('package.json is written by this same command, so the policy cannot read it first');
    const rel = this.relative(pkg);
    if (rel === undefined) return this.unresolved(`${pkg} is outside the workspace`);
    const text = this.files(rel);
    if (text === PENDING || text === null) return;
    const table = text === undefined ? undefined : packageScripts(text);
    if (table === undefined) return this.unresolved(`cannot read the scripts of ${rel}`);
    const tail = extra.map((a) => (a === undefined ? '"$__unresolved__"' : shellQuote(a))).join(' ');
    for (const name of scripts) {
      const names =
        name.startsWith('pre') || name.startsWith('post') || INSTALL_SCRIPTS.includes(name)
          ? [name]
          : [`pre${name}`, name, `post${name}`];
      for (const n of names) {
        const body = table[n];
        const key = `${rel}#${n}`;
        if (body === undefined || this.visitedScripts.has(key)) continue;
        this.visitedScripts.add(key);
        const s = freshScope(dir);
        this.source(n === name && tail ? `${body} ${tail}` : body, s, depth + 1, lenient);
      }
    }
  }

  private spelling(argv: Array<string | undefined>): string {
    return argv[0] === undefined ? 'a variable or substitution' : argv[0];
  }
}

interface Makefile {
  vars: Map<string, string>;
  rules: Map<string, { deps: string[]; recipe: string[] }>;
  firstTarget?: string;
  /** `$(shell …)` bodies and `!=` right-hand sides: make runs them while reading the file. */
  shellCalls: string[];
}

/** Enough of GNU make's syntax to know what each target runs: variables, rules, recipes. */
function parseMakefile(text: string): Makefile {
  const out: Makefile = { vars: new Map(), rules: new Map(), shellCalls: [] };
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  let current: Array<{ deps: string[]; recipe: string[] }> = [];
  for (const raw of lines) {
    for (const m of raw.matchAll(/\$\(shell[ \t]+([^)]*)\)/g)) out.shellCalls.push(m[1]);
    if (raw.startsWith('\t')) {
      for (const r of current) r.recipe.push(raw.slice(1));
      continue;
    }
    const line = raw.replace(/(^|[^\\])#.*$/, '$1').trimEnd();
    if (!line.trim()) continue;
    const assign = /^\s*(?:export\s+|override\s+)*([A-Za-z_][A-Za-z0-9_.-]*)\s*(:::=|::=|:=|\?=|\+=|!=|=)\s*(.*)$/.exec(
      line,
    );
    if (assign) {
      const [, name, op, value] = assign;
      if (op === '!=') out.shellCalls.push(value);
      else out.vars.set(name, op === '+=' && out.vars.has(name) ? `${out.vars.get(name)} ${value}` : value);
      current = [];
      continue;
    }
    const rule = /^([^:=#\t][^:=]*?)\s*::?\s*(.*)$/.exec(line);
    if (
      rule &&
      !/^\s*(-?include|sinclude|define|endef|ifeq|ifneq|ifdef|ifndef|else|endif|vpath|export|unexport)\b/.test(line)
    ) {
      const [depsPart, inline] = rule[2].split(/;(.*)/s);
      const deps = depsPart.replace(/\|/, ' ').split(/\s+/).filter(Boolean);
      current = [];
      for (const target of rule[1].trim().split(/\s+/)) {
        const r = out.rules.get(target) ?? { deps: [], recipe: [] };
        r.deps.push(...deps);
        if (inline !== undefined && inline.trim()) r.recipe.push(inline);
        out.rules.set(target, r);
        current.push(r);
        if (!out.firstTarget && !target.startsWith('.') && !target.includes('%')) out.firstTarget = target;
      }
      continue;
    }
    current = [];
  }
  return out;
}

/** The `scripts` of a package.json, or undefined when it is not one. */
function packageScripts(text: string): Record<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const scripts = (parsed as { scripts?: unknown }).scripts;
  if (scripts === undefined) return {};
  if (typeof scripts !== 'object' || scripts === null || Array.isArray(scripts)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(scripts)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * What `echo`/`printf` print when it is plain: no options, no escapes, no format
 * directives (`printf '%s\\n' git push` prints something else); undefined otherwise.
 */
function literalOutput(argv: Array<string | undefined>): string | undefined {
  const program = path.basename(argv[0] ?? '');
  if (program !== 'echo' && program !== 'printf') return undefined;
  const args = argv.slice(1);
  if (args.some((a) => a === undefined || a.includes('\\'))) return undefined;
  if (program === 'echo') return (args[0] ?? '').startsWith('-') ? undefined : args.join(' ');
  return args.length === 1 && !args[0]!.includes('%') ? args[0] : undefined;
}

/** `prisma@5` → `prisma`, `@scope/tool@1.2` → `@scope/tool`: the package a runner fetches. */
function withoutVersion(spec: string | undefined): string | undefined {
  if (spec === undefined) return undefined;
  const at = spec.lastIndexOf('@');
  return at > 0 ? spec.slice(0, at) : spec;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\-./=:,+%@]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function checkGit(
  cmd: string,
  words: Array<string | undefined>,
  tailUnknown: boolean,
  unresolved: (what: string) => void,
): void {
  let i = 0;
  while (i < words.length && (words[i] === undefined || words[i]!.startsWith('-'))) {
    const opt = words[i];
    if (opt === undefined) return unresolved('cannot tell what git is asked to do');
    const key =
      opt === '-c'
        ? words[i + 1]
        : opt.startsWith('-c')
          ? opt.slice(2)
          : opt.startsWith('--config-env')
            ? (words[i + 1] ?? opt)
            : '';
    if (key === undefined) return unresolved('cannot tell which git setting is given');
    if (opt.startsWith('--exec-path=') || (opt === '--exec-path' && words[i + 1] !== undefined)) {
      throw new PolicyViolation(
        RULES.git,
        cmd,
        "git --exec-path runs git commands from a directory of the agent's choosing",
      );
    }
    // An alias or hook set on the command line can hide any subcommand.
    if (
      /^(alias\.|core\.hookspath|core\.sshcommand|core\.fsmonitor|core\.pager|core\.editor|core\.gitproxy|sequence\.editor|diff\.external|credential\.helper|filter\.|include\.|includeif\.)/i.test(
        key,
      )
    ) {
      throw new PolicyViolation(RULES.git, cmd, `git -c ${key.split('=')[0]} is not allowed`);
    }
    i += GIT_VALUE_OPTIONS.has(opt) ? 2 : 1;
  }
  const sub = words[i];
  if (i >= words.length) {
    if (tailUnknown) unresolved('cannot tell what git is asked to do');
    return;
  }
  if (sub === undefined) return unresolved('cannot tell which git subcommand runs');
  const args = words.slice(i + 1).map((a) => a ?? '?');
  const forbidden =
    GIT_FORBIDDEN.has(sub) ||
    (sub === 'branch' &&
      (tailUnknown ||
        args.some(
          (a) => !a.startsWith('-') || /^-(d|D|m|M|f|c|C)$|^--(delete|move|force|copy|set-upstream)/.test(a),
        ))) ||
    (sub === 'checkout' && args.some((a) => /^-(b|B)$|^--orphan/.test(a))) ||
    (sub === 'reflog' && args.some((a) => a === 'expire' || a === 'delete')) ||
    (sub === 'hash-object' && args.includes('-w'));
  if (forbidden) {
    throw new PolicyViolation(
      RULES.git,
      cmd,
      `git ${sub} changes the repository; the worker commits and pushes, not the agent`,
    );
  }
  // Anything else may be an alias from a config the agent wrote, or an external git-* program.
  if (!GIT_READ_ONLY.has(sub)) unresolved(`git ${sub} is not a read-only git command the policy knows`);
}

/** Compiled patterns: a check compiles each once, not once per command it looks at. */
const compiled = new Map<string, RegExp>();

function checkPatterns(cmd: string, text: string, patterns: readonly string[], rule: string): void {
  for (const p of patterns) {
    let re = compiled.get(p);
    if (!re) {
      re = new RegExp(p, 'i');
      if (compiled.size < 1000) compiled.set(p, re);
    }
    if (re.test(text)) throw new PolicyViolation(rule, cmd, `matches /${p}/`);
  }
}

/**
 * A delete target must resolve inside the workspace and not be the workspace itself.
 * With `recursiveFromHere` (find), the root is allowed: `find . -delete` deletes
 * what is under it.
 */
function checkDeleteTarget(cmd: string, target: string, root: string, cwd: string, recursiveFromHere = false): void {
  if (/^[~$]|`|\$\(/.test(target)) {
    throw new PolicyViolation(
      RULES.delete,
      cmd,
      `cannot tell where ${target} points; use a path relative to the workspace`,
    );
  }
  const rootReal = realRoot(root);
  const resolved = resolveLoosely(path.resolve(resolveLoosely(cwd), target.replace(/\/+$/, '') || '/'));
  const inside = resolved.startsWith(rootReal + path.sep);
  if (inside || (recursiveFromHere && resolved === rootReal)) return;
  throw new PolicyViolation(
    RULES.delete,
    cmd,
    resolved === rootReal ? 'deletes the workspace root itself' : `${target} is outside the workspace`,
  );
}

/**
 * Resolves `p` (relative to the workspace root, or absolute) through symlinks and
 * returns the real path, throwing `PolicyViolation` when it escapes the workspace.
 * With `forWrite`, paths inside the workspace's `.git` are refused too: the agent must
 * not plant hooks or config that the worker's own git commands would later run.
 */
export function resolveInWorkspace(workspaceRoot: string, p: string, o: { forWrite?: boolean } = {}): string {
  const rootReal = realRoot(workspaceRoot);
  const rootSpelled = path.resolve(workspaceRoot);
  let abs = path.resolve(rootReal, p);
  // An absolute path spelled through the root's unresolved name is still inside.
  if (abs === rootSpelled || abs.startsWith(rootSpelled + path.sep)) abs = rootReal + abs.slice(rootSpelled.length);
  const real = resolveLoosely(abs);
  if (real !== rootReal && !real.startsWith(rootReal + path.sep)) {
    throw new PolicyViolation(RULES.path, p, `resolves to ${real}, outside the workspace`);
  }
  if (o.forWrite && (real === path.join(rootReal, '.git') || real.startsWith(path.join(rootReal, '.git') + path.sep))) {
    throw new PolicyViolation(RULES.git, p, 'the workspace .git is written by the worker only');
  }
  return real;
}

function realRoot(root: string): string {
  try {
    return fs.realpathSync(root);
  } catch {
    return path.resolve(root);
  }
}

/**
 * realpath of the longest existing prefix of `abs`, with the rest appended; the rest does
 * not exist, so it holds no symlinks. A dangling symlink is followed to its target.
 */
function resolveLoosely(abs: string): string {
  let head = abs;
  const tail: string[] = [];
  for (let hops = 0; hops < 64; hops++) {
    try {
      return path.join(fs.realpathSync(head), ...tail);
    } catch {
      try {
        const link = fs.readlinkSync(head);
        head = path.resolve(path.dirname(head), link);
        continue;
      } catch {
        // not a symlink: it just does not exist yet
      }
      const parent = path.dirname(head);
      if (parent === head) return path.join(head, ...tail);
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
  return abs;
}
