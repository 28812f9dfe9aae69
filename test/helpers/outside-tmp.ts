/**
 * Scratch space outside /tmp. The sandbox hides /tmp (and /var/tmp) from commands, so an
 * attack staged there looks contained when it is not: a real NIGHTSHIFT_ROOT lives in
 * places like /data or /var/lib. NIGHTSHIFT_TEST_SCRATCH names another parent directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after } from 'node:test';
import { removeTree } from './mounts';

const base = path.join(process.env.NIGHTSHIFT_TEST_SCRATCH ?? '/var/lib', `nightshift-test-${process.pid}`);

// Registered when the test file imports this module, so it runs once, after all its tests.
// A sandbox volume a test left mounted (a killed worker's) is detached first: rm cannot remove a mount point.
after(() => removeTree(base));

/** A fresh directory under the scratch base; the base goes when the test file ends. */
export function scratchDir(prefix: string): string {
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  return fs.realpathSync(fs.mkdtempSync(path.join(base, `${prefix}-`)));
}
