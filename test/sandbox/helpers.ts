/** Shared fixtures for the sandbox tests: temp dirs and throwaway git repositories. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function tempDir(prefix: string): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `nightshift-${prefix}-`)));
}

export function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();
}

/** A repository with one commit on `main` holding README.md and CLAUDE.md, plus a bare clone to push to. */
export function makeRepo(): { repo: string; bare: string } {
  const repo = tempDir('repo');
  gitIn(repo, 'init', '--quiet', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'README.md'), '# demo\n');
  fs.writeFileSync(path.join(repo, 'CLAUDE.md'), 'rules\n');
  gitIn(repo, 'add', '.');
  gitIn(repo, 'commit', '--quiet', '-m', 'initial');
  const bare = tempDir('bare');
  execFileSync('git', ['clone', '--quiet', '--bare', repo, bare]);
  return { repo, bare };
}

/** Process ids whose command line contains `marker` (read from /proc). */
export function processesMatching(marker: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(marker)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}
