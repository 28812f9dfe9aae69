/**
 * Scratch space outside /tmp. The sandbox hides /tmp (and /var/tmp) from commands, so an
 * attack staged there looks contained when it is not: a real NIGHTSHIFT_ROOT lives in
 * places like /data or /var/lib. NIGHTSHIFT_TEST_SCRATCH names another parent directory.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after } from 'node:test';

const base = path.join(process.env.NIGHTSHIFT_TEST_SCRATCH ?? '/var/lib', `nightshift-test-${process.pid}`);

// Registered when the test file imports this module, so it runs once, after all its tests.
// A sandbox volume a test left mounted (a killed worker's) is detached first: rm cannot remove a mount point.
after(() => {
  for (const mountPoint of mountsUnder(base)) spawnSync('umount', ['-l', mountPoint]);
  fs.rmSync(base, { recursive: true, force: true });
});

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
function mountsUnder(dir: string): string[] {
  const text = fs.existsSync('/proc/self/mountinfo') ? fs.readFileSync('/proc/self/mountinfo', 'utf8') : '';
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => Boolean(p) && (p === dir || p.startsWith(dir + path.sep)));
  return points.sort((a, b) => b.length - a.length);
}

/** A fresh directory under the scratch base; the base goes when the test file ends. */
export function scratchDir(prefix: string): string {
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  return fs.realpathSync(fs.mkdtempSync(path.join(base, `${prefix}-`)));
}
