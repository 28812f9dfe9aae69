/**
 * What a push would send, scanned for the worker's secrets and token shapes before the
 * branch leaves the machine. Redaction (common/redact.ts) cleans the text around a
 * delivery; a secret inside a committed file cannot be redacted without changing what the
 * checks ran on, so a hit stops the push instead, and the task is delivered as its local
 * patch (which is redacted) with a note naming the file and the kind, never the value.
 *
 * The range is every commit the push would carry: the delivered commit and its ancestors
 * that the remote does not hold yet. A dependency's branch that was refused stays in the
 * delivery repository, and a dependent task starts from it; scanning only the last commit
 * would push the dependency's secret inside the dependent's history.
 *
 * Everything is read from the worker's delivery repository (objects only, no work tree)
 * with the worker's pinned git, streamed, and scanned up to a cap: what is too large to
 * scan is not pushed either.
 */
import type { Redactor } from '../../../common/redact';
import { git, gitProcess, HOST_GIT_TIMEOUT_MS } from '../../../sandbox/workspace';

/** Most bytes of diffs and commit text scanned; past this the push counts as unscannable. @default 256 MiB */
export const MAX_SCANNED_DIFF_BYTES = 256 * 1024 * 1024;
/** Added text is scanned in pieces about this long; consecutive pieces overlap by SCAN_OVERLAP so a token on a cut is still whole in one. */
const SCAN_PIECE = 64 * 1024;
const SCAN_OVERLAP = 512;
/** A diff header line (a path, a hunk header with its context) is kept up to this long; the rest is not needed. */
const MAX_HEADER_LINE = 16 * 1024;
/** Where a hit in commit text (a message, an author, a file's name) is reported: naming the file could show the secret. */
export const COMMIT_TEXT = 'a commit message or file name';

export interface SecretHit {
  /** The file as git quotes it (control characters escaped), with any secret in its name redacted. */
  file: string;
  /** Kinds found (`GITHUB_TOKEN`, `GitHub token`, `private key`…); never the value. */
  kinds: string[];
}

export type CommitScan = { clean: true } | { clean: false; hits: SecretHit[]; tooLarge?: boolean };

class Hits {
  private readonly byFile = new Map<string, Set<string>>();
  constructor(private readonly redactor: Redactor) {}
  scan(file: string, text: string) {
    for (const kind of this.redactor.redact(text).found) {
      const kinds = this.byFile.get(file) ?? new Set<string>();
      kinds.add(kind);
      this.byFile.set(file, kinds);
    }
  }
  list(): SecretHit[] {
    return [...this.byFile].map(([file, kinds]) => ({ file: this.redactor.redact(file).text, kinds: [...kinds] }));
  }
}

/**
 * Follows `git log -p` output piece by piece, never holding more than a piece of any line,
 * and hands the added lines to `hits` per file. Hunks are followed by their line counts,
 * so an added line that looks like a header (`++ x` shows as `+++ x`) is still content.
 */
class AddedLines {
  private inHunk = false;
  private oldLeft = 0;
  private newLeft = 0;
  private atLineStart = true;
  private lineKind = '';
  private header = '';
  private file = '';
  private pending = '';

  constructor(private readonly hits: Hits) {}

  feed(chunk: string) {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf('\n', at);
      const end = nl === -1 ? chunk.length : nl;
      this.fragment(chunk.slice(at, end), nl !== -1);
      at = end + 1;
    }
  }

  end() {
    this.flush(0);
  }

  private fragment(text: string, ends: boolean) {
    let body = text;
    if (this.atLineStart) {
      this.atLineStart = false;
      this.lineKind = this.inHunk ? text.charAt(0) : 'header';
      if (this.inHunk && !['+', '-', ' ', '', '\\'].includes(this.lineKind)) {
        // Counts out of step with the text: read it as headers again rather than trust it.
        this.inHunk = false;
        this.lineKind = 'header';
      }
      if (this.lineKind !== 'header') body = text.slice(1);
    }
    if (this.lineKind === 'header') {
      if (this.header.length < MAX_HEADER_LINE) this.header += body.slice(0, MAX_HEADER_LINE - this.header.length);
    } else if (this.lineKind === '+') {
      this.pending += body;
      if (this.pending.length > 2 * SCAN_PIECE) this.flush(SCAN_OVERLAP);
    }
    if (!ends) return;
    this.atLineStart = true;
    if (this.lineKind === 'header') {
      this.headerLine(this.header);
      this.header = '';
      return;
    }
    if (this.lineKind === '+') {
      this.pending += '\n';
      this.newLeft--;
      if (this.pending.length > SCAN_PIECE) this.flush(SCAN_OVERLAP);
    } else if (this.lineKind === '-') this.oldLeft--;
    else if (this.lineKind !== '\\') {
      this.oldLeft--;
      this.newLeft--;
    }
    if (this.oldLeft <= 0 && this.newLeft <= 0) this.inHunk = false;
  }

  private headerLine(line: string) {
    if (line.startsWith('diff ')) {
      this.flush(0);
      this.file = '';
    } else if (line.startsWith('--- ') && !this.file) {
      this.file = pathOf(line.slice(4), 'a/');
    } else if (line.startsWith('+++ ')) {
      const name = line.slice(4);
      if (name !== '/dev/null') this.file = pathOf(name, 'b/');
    } else if (line.startsWith('@@ ')) {
      const m = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
      if (!m) return;
      this.oldLeft = m[1] === undefined ? 1 : Number(m[1]);
      this.newLeft = m[2] === undefined ? 1 : Number(m[2]);
      this.inHunk = this.oldLeft > 0 || this.newLeft > 0;
    }
  }

  /** Scans what is pending, keeping its last `keep` characters for the next piece. */
  private flush(keep: number) {
    if (this.pending.length > keep) this.hits.scan(this.file || '(unnamed file)', this.pending);
    this.pending = keep ? this.pending.slice(-keep) : '';
  }
}

/** A diff path without its `a/`/`b/` prefix, left in git's quotes when git quoted it. */
function pathOf(name: string, prefix: string): string {
  if (name.startsWith(`"${prefix}`)) return `"${name.slice(prefix.length + 1)}`;
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/**
 * Runs `git log` over the range given on stdin and hands its output to `onData` as latin1
 * (one char per byte: sizes are exact and binary content keeps every byte), stopping once
 * `budget.left` is used up. Resolves false when it stopped for the cap.
 */
async function streamLog(
  repoDir: string,
  args: string[],
  revs: string,
  budget: { left: number },
  onData: (chunk: string) => void,
): Promise<boolean> {
  const child = gitProcess(['--git-dir', repoDir, 'log', '--stdin', ...args]);
  child.stdin.on('error', () => undefined);
  child.stdin.end(revs);
  let stderr = '';
  let capped = false;
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString('utf8');
  });
  child.stdout.setEncoding('latin1');
  const timer = setTimeout(() => child.kill('SIGKILL'), HOST_GIT_TIMEOUT_MS);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.on('data', (chunk: string) => {
        if (capped) return;
        budget.left -= chunk.length;
        if (budget.left < 0) {
          capped = true;
          child.kill('SIGKILL');
          return;
        }
        onData(chunk);
      });
      child.on('close', resolve);
    });
    if (capped) return false;
    if (code !== 0)
      throw new Error(
        `scanning for secrets failed: git log ${args[0]}: ${stderr.trim() || `git exited ${code ?? 'on a signal'}`}`,
      );
    return true;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The commits a push of `commit` would carry, as `git log --stdin` input: the commit, less
 * what the remote holds (`remoteHas`, its ref tips, where this repository has them) and
 * what this repository fetched from it or pushed to it before.
 */
async function outgoingRange(repoDir: string, commit: string, remoteHas: string[]): Promise<string> {
  const local = await git([
    '--git-dir',
    repoDir,
    'for-each-ref',
    '--format=%(objectname)',
    'refs/remotes',
    'refs/nightshift/pushed',
  ]);
  const candidates = [...new Set([...remoteHas, ...local.split('\n')].filter((s) => /^[0-9a-f]{40,64}$/.test(s)))];
  let present: string[] = [];
  if (candidates.length) {
    // A tip this repository lacks cannot be named to git log; the push cannot use it either.
    const child = gitProcess(['--git-dir', repoDir, 'cat-file', '--batch-check=%(objectname) %(objecttype)']);
    child.stdin.end(candidates.join('\n') + '\n');
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    child.stderr.resume();
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) throw new Error(`scanning for secrets failed: git cat-file exited ${code}`);
    present = out.split('\n').flatMap((l) => (/ (commit|tag)$/.test(l) ? [l.split(' ')[0]] : []));
  }
  return [commit, ...present.map((s) => `^${s}`)].join('\n') + '\n';
}

/**
 * Options of the diff pass: every byte as text, nothing configured or external run, paths
 * as git quotes them; no context lines and no body for a deleted file, which send nothing
 * new and would only count against the cap.
 */
const DIFF_ARGS = [
  '-p',
  '--unified=0',
  '--irreversible-delete',
  '--format=%x01',
  '--text',
  '--no-color',
  '--no-ext-diff',
  '--no-textconv',
  '--no-renames',
  '--diff-merges=first-parent',
  '--src-prefix=a/',
  '--dst-prefix=b/',
  '--no-relative',
  '--submodule=short',
];
/** Options of the text pass: who made each commit, its message, and the names of the files it touches. */
const TEXT_ARGS = [
  '--format=%an%n%ae%n%cn%n%ce%n%B',
  '--name-only',
  '-z',
  '--no-renames',
  '--diff-merges=first-parent',
];

/**
 * Scans everything a push of `commit` would send that the remote lacks: the lines each
 * commit adds (against its first parent), and each commit's message, people and file
 * names. `remoteHas` is what the remote's refs point at; without it, only what this
 * repository knows the remote has bounds the range.
 */
export async function scanCommitForSecrets(
  repoDir: string,
  commit: string,
  redactor: Redactor,
  o: { maxBytes?: number; remoteHas?: string[] } = {},
): Promise<CommitScan> {
  const revs = await outgoingRange(repoDir, commit, o.remoteHas ?? []);
  const budget = { left: o.maxBytes ?? MAX_SCANNED_DIFF_BYTES };
  const hits = new Hits(redactor);
  const added = new AddedLines(hits);
  let complete = await streamLog(repoDir, DIFF_ARGS, revs, budget, (c) => added.feed(c));
  added.end();
  if (complete) {
    let text = '';
    complete = await streamLog(repoDir, TEXT_ARGS, revs, budget, (c) => {
      text += c.replace(/\0/g, '\n');
      if (text.length > SCAN_PIECE) {
        hits.scan(COMMIT_TEXT, text);
        text = text.slice(-SCAN_OVERLAP);
      }
    });
    if (text) hits.scan(COMMIT_TEXT, text);
  }
  const found = hits.list();
  if (!complete) return { clean: false, tooLarge: true, hits: found };
  return found.length ? { clean: false, hits: found } : { clean: true };
}

/** Why the branch was not pushed, naming files and kinds (never a value). */
export function secretScanReason(scan: Exclude<CommitScan, { clean: true }>): string {
  const where = scan.hits.map((h) => `${h.file} (${h.kinds.join(', ')})`).join('; ');
  if (scan.tooLarge) {
    return `the worker refused to push it: what it would send is larger than ${MAX_SCANNED_DIFF_BYTES / 1024 / 1024} MiB and could not all be scanned for secrets${where ? `; found so far: ${where}` : ''}`;
  }
  return `the worker refused to push it: it puts a secret-shaped value in ${where}; the patch file has it redacted`;
}
