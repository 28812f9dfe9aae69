/**
 * Removing a directory that may hold mounted sandbox volumes (sandbox/disk-volume.ts): rm
 * cannot remove a mount point (EBUSY), so they are detached first, deepest first.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mountsUnder as volumeMountsUnder } from '../../sandbox/disk-volume';

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return volumeMountsUnder(dir).map((m) => m.mountPoint);
}

/** `rm -rf dir`, after lazily unmounting every volume below it. */
export function removeTree(dir: string): void {
  for (const mountPoint of mountsUnder(dir)) spawnSync('umount', ['-l', mountPoint]);
  fs.rmSync(dir, { recursive: true, force: true });
}
