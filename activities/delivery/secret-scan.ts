/**
 * What a delivered commit adds, scanned for the worker's secrets and token shapes before
 * the branch leaves the machine. Redaction (common/redact.ts) cleans the text around a
 * delivery; a secret inside a committed file cannot be redacted without changing what the
 * checks ran on, so a hit stops the push instead, and the task is delivered as its local
 * patch (which is redacted) with a note naming the file and the kind, never the value.
 *
 * The diff is read from the worker's delivery repository (objects only, no work tree),
 * streamed, and scanned up to a cap: a diff too large to scan is not pushed either.
 */
import type { Redactor } from '../../common/redact';
import { gitProcess } from '../../sandbox/workspace';

/** Most diff bytes scanned; past this the commit is treated as unscannable. @default 256 MiB */
export const MAX_SCANNED_DIFF_BYTES = 256 * 1024 * 1024;
/** Long lines (minified or binary text) are scanned in pieces this long, overlapping by SCAN_OVERLAP. */
const SCAN_PIECE = 64 * 1024;
const SCAN_OVERLAP = 512;

export interface SecretHit {
  file: string;
  /** Kinds found (`GITHUB_TOKEN`, `GitHub token`, `private key`…); never the value. */
  kinds: string[];
}

export type CommitScan = { clean: true } | { clean: false; hits: SecretHit[]; tooLarge?: boolean };

/** Scans the lines `commit` adds against its first parent (the delivery's base). */
export async function scanCommitForSecrets(repoDir: string, commit: string, redactor: Redactor, o: { maxBytes?: number } = {}): Promise<CommitScan> {
  const max = o.maxBytes ?? MAX_SCANNED_DIFF_BYTES;
  // --text: a token in a "binary" file is still a token; no textconv or external diff runs.
  const child = gitProcess(['--git-dir', repoDir, 'diff-tree', '-p', '-r', '--text', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames', '--diff-merges=first-parent', '--root', '--no-commit-id', commit]);
  child.stdin.end();
  const hits = new Map<string, Set<string>>();
  let file = '';
  let seen = 0;
  let rest = '';
  let tooLarge = false;
  let stderr = '';
  const scanLine = (line: string) => {
    if (line.startsWith('+++ ')) {
      file = line.slice(4).replace(/^b\//, '').replace(/^"b\//, '"');
      return;
    }
    if (!line.startsWith('+')) return;
    for (let at = 1; at < line.length; at += SCAN_PIECE) {
      for (const kind of redactor.redact(line.slice(Math.max(1, at - SCAN_OVERLAP), at + SCAN_PIECE)).found) {
        const kinds = hits.get(file) ?? new Set<string>();
        kinds.add(kind);
        hits.set(file, kinds);
      }
    }
  };
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString('utf8');
  });
  // latin1: one char per byte, so sizes are exact and any secret (ASCII) is found as it is.
  child.stdout.setEncoding('latin1');
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.stdout.on('data', (chunk: string) => {
      if (tooLarge) return;
      seen += chunk.length;
      if (seen > max) {
        tooLarge = true;
        child.kill('SIGKILL');
        return;
      }
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      // A line with no end in sight is scanned in pieces as it comes.
      if (rest.length > 4 * SCAN_PIECE) {
        scanLine(rest.slice(0, rest.length - SCAN_OVERLAP));
        rest = rest[0] + rest.slice(rest.length - SCAN_OVERLAP);
      }
      lines.forEach(scanLine);
    });
    child.on('close', resolve);
  });
  if (tooLarge) return { clean: false, tooLarge: true, hits: [...hits].map(([f, k]) => ({ file: f, kinds: [...k] })) };
  if (code !== 0) throw new Error(`scanning ${commit} for secrets failed: ${stderr.trim() || `git exited ${code}`}`);
  if (rest) scanLine(rest);
  if (hits.size === 0) return { clean: true };
  return { clean: false, hits: [...hits].map(([f, k]) => ({ file: f, kinds: [...k] })) };
}

/** Why the branch was not pushed, naming files and kinds (never a value). */
export function secretScanReason(scan: Exclude<CommitScan, { clean: true }>): string {
  const where = scan.hits.map((h) => `${h.file} (${h.kinds.join(', ')})`).join('; ');
  if (scan.tooLarge) {
    return `the commit's changes are larger than ${MAX_SCANNED_DIFF_BYTES / 1024 / 1024} MiB and could not all be scanned for secrets${where ? `; found so far: ${where}` : ''}, so it was not pushed`;
  }
  return `the commit puts a secret-shaped value in ${where}, so it was not pushed; the patch file has it redacted`;
}
