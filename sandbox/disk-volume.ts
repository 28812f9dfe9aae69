/**
 * A hard disk quota for one local sandbox: a sparse ext4 image of the quota's size,
 * loop-mounted on the host, holding the workspace, TMPDIR and HOME. A write past the size
 * fails with ENOSPC at once, which a `du` after the fact never could.
 *
 * Needs root (mount), loop devices and mkfs.ext4 (e2fsprogs). Where any is missing the
 * sandbox runs without a disk bound, and says why (see LocalSandbox).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const VOLUME_SUBDIRS = ['workspace', 'tmp', 'home'] as const;

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: SYSTEM_PATH, LANG: 'C' }, timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

/** Makes the image (sparse: it takes host space only as the sandbox writes). */
export async function createVolumeImage(image: string, sizeMb: number): Promise<void> {
  await (await fs.promises.open(image, 'wx', 0o600)).close();
  await fs.promises.truncate(image, sizeMb * 1024 * 1024);
  // No reserved blocks: the whole size is the sandbox's.
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-L', 'nightshift', image]);
}

export function isMountPoint(p: string): boolean {
  try {
    return fs.statSync(p).dev !== fs.statSync(path.dirname(p)).dev;
  } catch {
    return false;
  }
}

/**
 * Mounts the image at `mountPoint` unless it already is, and lays out the sandbox's
 * directories in it. Several workers may open one sandbox at once; a lock directory
 * makes sure the image is mounted once (two mounts of one ext4 image corrupt it).
 */
export async function ensureVolumeMounted(image: string, mountPoint: string): Promise<void> {
  if (isMountPoint(mountPoint)) return;
  const lock = `${mountPoint}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.promises.mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (isMountPoint(mountPoint)) return;
      const age = Date.now() - (await fs.promises.stat(lock).then((s) => s.mtimeMs, () => Date.now()));
      // A lock older than any mount takes was left by a worker that died holding it.
      if (age > 60_000 || attempt > 600) await fs.promises.rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (isMountPoint(mountPoint)) return;
    await fs.promises.mkdir(mountPoint, { recursive: true });
    await run('mount', ['-o', 'loop,nodev,nosuid', image, mountPoint]);
    await fs.promises.rm(path.join(mountPoint, 'lost+found'), { recursive: true, force: true });
    for (const sub of VOLUME_SUBDIRS) await fs.promises.mkdir(path.join(mountPoint, sub), { recursive: true });
  } finally {
    await fs.promises.rm(lock, { recursive: true, force: true });
  }
}

/** Detaches the volume (lazily: a process still holding a file there keeps it until it exits). */
export async function unmountVolume(mountPoint: string): Promise<void> {
  if (!isMountPoint(mountPoint)) return;
  await run('umount', ['-l', mountPoint]).catch(() => undefined);
}
