/**
 * Removing a directory that may hold mounted sandbox volumes (sandbox/disk-volume.ts): rm
 * cannot remove a mount point (EBUSY), so they are detached first, deepest first.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  const text = fs.existsSync('/proc/self/mountinfo') ? fs.readFileSync('/proc/self/mountinfo', 'utf8') : '';
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => Boolean(p) && (p === dir || p.startsWith(dir + path.sep)));
  return points.sort((a, b) => b.length - a.length);
}

/** `rm -rf dir`, after lazily unmounting every volume below it. */
export function removeTree(dir: string): void {
  for (const mountPoint of mountsUnder(dir)) spawnSync('umount', ['-l', mountPoint]);
  fs.rmSync(dir, { recursive: true, force: true });
}
