/**
 * The orchestrator-side safety policy (seed 001, "Safety Features"): checked before a
 * tool runs. It is the first of two walls; the sandbox is the second (the workspace's
 * `.git` is read-only inside it and the network is an allowlist), so a command that
 * slips past this parser by obfuscation still cannot commit, push or reach a database.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { PolicyViolation } from '../common/errors';
import { splitCommands } from './shell-words';

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

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'busybox']);
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'for', 'in', '!', '{', '}', 'time', 'case', 'esac', 'function']);
/** Programs that run their arguments as a command, with the options of theirs that take a value. */
const WRAPPERS: Record<string, Set<string>> = {
  env: new Set(['-u', '--unset', '-C', '--chdir']),
  sudo: new Set(['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U']),
  doas: new Set(['-u', '-C']),
  command: new Set(),
  builtin: new Set(),
  exec: new Set(['-a']),
  nohup: new Set(),
  nice: new Set(['-n']),
  ionice: new Set(['-c', '-n', '-p']),
  setsid: new Set(),
  stdbuf: new Set(['-i', '-o', '-e']),
  timeout: new Set(['-s', '-k', '--signal', '--kill-after']),
  xargs: new Set(['-I', '-L', '-n', '-P', '-s', '-d', '-E', '-a', '--max-args', '--max-procs', '--delimiter']),
  npx: new Set(['-p', '--package']),
  bunx: new Set(),
  chronic: new Set(),
  unbuffer: new Set(),
};
/** git options that come before the subcommand and take a separate value. */
const GIT_VALUE_OPTIONS = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--super-prefix', '--config-env', '--exec-path']);
/** Subcommands that stage, commit, move refs, rewrite history or talk to a remote for writing. */
const GIT_FORBIDDEN = new Set([
  'add', 'commit', 'push', 'rebase', 'reset', 'filter-branch', 'filter-repo', 'update-ref', 'update-index',
  'symbolic-ref', 'replace', 'merge', 'cherry-pick', 'revert', 'am', 'pull', 'stash', 'tag', 'notes', 'rm', 'mv',
  'commit-tree', 'write-tree', 'read-tree', 'mktree', 'fast-import', 'send-pack', 'receive-pack', 'gc', 'prune',
  'switch', 'worktree', 'submodule', 'init', 'clone', 'remote', 'apply', 'restore', 'config',
]);

/**
 * Throws `PolicyViolation(rule, command, detail)` if `cmd` breaks `policy`. `cwd` is
 * where the command runs (default: the workspace root); relative delete targets resolve
 * against it.
 */
export function checkCommand(cmd: string, policy: SafetyPolicy, workspaceRoot: string, cwd: string = workspaceRoot): void {
  checkScript(cmd, cmd, policy, workspaceRoot, cwd);
}

/** `cmd` is what the violation names (the whole command); `script` is what is parsed. */
function checkScript(script: string, cmd: string, policy: SafetyPolicy, workspaceRoot: string, cwd: string): void {
  checkPatterns(cmd, script, policy.extraForbiddenPatterns, RULES.pattern);
  for (const raw of splitCommands(script)) {
    const words = unwrap(raw);
    if (words.length === 0) continue;
    const program = path.basename(words[0]);
    const text = words.join(' ');
    if (SHELLS.has(program) || program === 'eval' || program === 'su') {
      const inner = program === 'eval' ? words.slice(1).join(' ') : shellScript(words);
      if (inner !== undefined) checkScript(inner, cmd, policy, workspaceRoot, cwd);
    }
    if (program === 'find') checkFind(cmd, words, policy, workspaceRoot, cwd);
    if (program === 'git' && !policy.allowGit) checkGit(cmd, words);
    checkPatterns(cmd, text, policy.migrationPatterns, RULES.migration);
    checkPatterns(cmd, text, policy.extraForbiddenPatterns, RULES.pattern);
    if (!policy.allowDeleteOutside && ['rm', 'rmdir', 'unlink', 'shred'].includes(program)) {
      let optionsEnded = false;
      for (const w of words.slice(1)) {
        if (!optionsEnded && w === '--') optionsEnded = true;
        else if (optionsEnded || !w.startsWith('-')) checkDeleteTarget(cmd, w, workspaceRoot, cwd);
      }
    }
  }
}

/** Strips env assignments, shell keywords and wrappers such as `env`, `sudo`, `xargs`. */
function unwrap(words: string[]): string[] {
  let i = 0;
  while (i < words.length) {
    const w = words[i];
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) || KEYWORDS.has(w)) {
      i++;
      continue;
    }
    const valued = WRAPPERS[path.basename(w)];
    if (!valued) break;
    i++;
    while (i < words.length && (words[i].startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]))) {
      if (valued.has(words[i])) i++;
      i++;
    }
    // `timeout 10 git push`: the duration comes before the command.
    if (path.basename(w) === 'timeout' && i < words.length && /^\d/.test(words[i])) i++;
  }
  return words.slice(i);
}

/** The script of `sh -c 'script'` (also `-lc`, `-ec`), if any. */
function shellScript(words: string[]): string | undefined {
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(w)) return words[i + 1];
    if (!w.startsWith('-') && !w.startsWith('+')) return undefined;
  }
  return undefined;
}

function checkGit(cmd: string, words: string[]): void {
  let i = 1;
  while (i < words.length && words[i].startsWith('-')) {
    const opt = words[i];
    const key = opt === '-c' ? (words[i + 1] ?? '') : opt.startsWith('-c') ? opt.slice(2) : '';
    // An alias or hook set on the command line can hide any subcommand.
    if (/^(alias\.|core\.hookspath|core\.sshcommand|core\.fsmonitor)/i.test(key)) {
      throw new PolicyViolation(RULES.git, cmd, `git -c ${key.split('=')[0]} is not allowed`);
    }
    i += GIT_VALUE_OPTIONS.has(opt) ? 2 : 1;
  }
  const sub = words[i];
  if (sub === undefined) return;
  const args = words.slice(i + 1);
  const forbidden =
    GIT_FORBIDDEN.has(sub) ||
    (sub === 'branch' && args.some((a) => !a.startsWith('-') || /^-(d|D|m|M|f|c|C)$|^--(delete|move|force|copy|set-upstream)/.test(a))) ||
    (sub === 'checkout' && args.some((a) => /^-(b|B)$|^--orphan/.test(a))) ||
    (sub === 'reflog' && args.some((a) => a === 'expire' || a === 'delete')) ||
    (sub === 'hash-object' && args.includes('-w'));
  if (forbidden) {
    throw new PolicyViolation(RULES.git, cmd, `git ${sub} changes the repository; the worker commits and pushes, not the agent`);
  }
}

function checkPatterns(cmd: string, text: string, patterns: readonly string[], rule: string): void {
  for (const p of patterns) {
    if (new RegExp(p, 'i').test(text)) throw new PolicyViolation(rule, cmd, `matches /${p}/`);
  }
}

function checkFind(cmd: string, words: string[], policy: SafetyPolicy, root: string, cwd: string): void {
  const execAt = words.findIndex((w) => w === '-exec' || w === '-execdir' || w === '-ok' || w === '-okdir');
  if (execAt !== -1) {
    const end = words.findIndex((w, i) => i > execAt && (w === ';' || w === '+' || w === '\\;'));
    checkScript(words.slice(execAt + 1, end === -1 ? undefined : end).join(' '), cmd, policy, root, cwd);
  }
  if (policy.allowDeleteOutside) return;
  const deletes = words.includes('-delete') || (execAt !== -1 && ['rm', 'rmdir', 'unlink'].includes(path.basename(words[execAt + 1] ?? '')));
  if (!deletes) return;
  const starts = [];
  for (const w of words.slice(1)) {
    if (w.startsWith('-') || w === '!' || w === '(') break;
    starts.push(w);
  }
  for (const s of starts.length > 0 ? starts : ['.']) checkDeleteTarget(cmd, s, root, cwd, true);
}

/**
 * A delete target must resolve inside the workspace and not be the workspace itself.
 * With `recursiveFromHere` (find), the root is allowed: `find . -delete` deletes
 * what is under it.
 */
function checkDeleteTarget(cmd: string, target: string, root: string, cwd: string, recursiveFromHere = false): void {
  if (/^[~$]|`|\$\(/.test(target)) {
    throw new PolicyViolation(RULES.delete, cmd, `cannot tell where ${target} points; use a path relative to the workspace`);
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
