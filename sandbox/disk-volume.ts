/**
 * A hard disk quota for one local sandbox: a sparse ext4 image of the quota's size,
 * loop-mounted on the host, holding the workspace, TMPDIR and HOME. A write past the size
 * fails with ENOSPC at once, which a `du` after the fact never could.
 *
 * Needs root (mount), loop devices and mkfs.ext4 (e2fsprogs). Loop devices are made on
 * demand through /dev/loop-control (on current kernels `max_loop` only sets how many
 * exist at boot), and each is freed when its sandbox is killed. Where any of it is
 * missing the sandbox runs without a disk bound: probeDiskQuota finds that out once per
 * worker, which then warns at start-up and in every report (see LocalSandbox).
 *
 * A worker killed with SIGKILL frees nothing: every process that opens a volume records
 * itself beside the mount point, and a worker starting up unmounts (and so frees the loop
 * device of) each volume whose holders on this host are all gone (sweepOrphanVolumes).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
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

/**
 * Makes the image (sparse: it takes host space only as the sandbox writes). With
 * `templateDir`, the image is a sparse copy of one formatted once per size and process
 * there (see formattedTemplate); without, mkfs formats it.
 */
export async function createVolumeImage(
  image: string,
  sizeMb: number,
  o: { templateDir?: string } = {},
): Promise<void> {
  if (o.templateDir) {
    for (let attempt = 1; ; attempt++) {
      const template = await formattedTemplate(o.templateDir, sizeMb);
      try {
        // A new file takes the template's mode (0600); no data block is read where it has a hole.
        await run('cp', ['--sparse=always', template, image]);
        return;
      } catch (err) {
        // A template deleted under the worker (a cleaned sandboxes directory) is made again,
        // rather than every later sandbox failing its volume and running unbounded.
        if (attempt > 1 || fs.existsSync(template)) throw err;
        templates.delete(template);
        await fs.promises.rm(image, { force: true });
      }
    }
  }
  await formatImage(image, sizeMb);
}

async function formatImage(image: string, sizeMb: number): Promise<void> {
  await (await fs.promises.open(image, 'wx', 0o600)).close();
  await fs.promises.truncate(image, sizeMb * 1024 * 1024);
  // No reserved blocks: the whole size is the sandbox's. The image is sparse, so its inode
  // tables and journal already read as zeros: nothing needs writing now or after the mount.
  await run('mkfs.ext4', [
    '-q',
    '-F',
    '-m',
    '0',
    '-E',
    'lazy_itable_init=1,lazy_journal_init=1,nodiscard',
    '-L',
    'nightshift',
    image,
  ]);
}

const templates = new Map<string, Promise<string>>();

/**
 * A formatted image of `sizeMb` under `dir`, made once per process (a template left by an
 * earlier process may come from other mkfs options, so it is made again). Copying it costs
 * a sandbox a few MiB of writes and no fsync, where mkfs computes and flushes every group's
 * metadata each time. The copies share the filesystem's UUID, which ext4 does not mind.
 */
function formattedTemplate(dir: string, sizeMb: number): Promise<string> {
  const file = path.join(dir, `.volume-template-${sizeMb}.img`);
  let made = templates.get(file);
  if (!made) {
    made = (async () => {
      const staging = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        await fs.promises.mkdir(dir, { recursive: true });
        await formatImage(staging, sizeMb);
        await fs.promises.rename(staging, file);
        return file;
      } catch (err) {
        templates.delete(file);
        await fs.promises.rm(staging, { force: true });
        throw err;
      }
    })();
    templates.set(file, made);
  }
  return made;
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
  // Recorded before the mount is looked at: a sweep that takes the lock after this sees it.
  recordHolder(mountPoint);
  const lock = `${mountPoint}.lock`;
  // A lock may be a sweep's about to unmount: then wait for it below and mount again.
  if (isMountPoint(mountPoint) && !fs.existsSync(lock)) return;
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.promises.mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (isMountPoint(mountPoint)) return;
      const age =
        Date.now() -
        (await fs.promises.stat(lock).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        ));
      // A lock older than any mount takes was left by a worker that died holding it.
      if (age > 60_000 || attempt > 600) await fs.promises.rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (isMountPoint(mountPoint)) return;
    await fs.promises.mkdir(mountPoint, { recursive: true });
    await run('mount', ['-o', 'loop,nodev,nosuid,noinit_itable', image, mountPoint]);
    await fs.promises.rm(path.join(mountPoint, 'lost+found'), { recursive: true, force: true });
    for (const sub of VOLUME_SUBDIRS) await fs.promises.mkdir(path.join(mountPoint, sub), { recursive: true });
  } finally {
    await fs.promises.rm(lock, { recursive: true, force: true });
  }
}

/** Detaches the volume (lazily: a process still holding a file there keeps it until it exits). */
export async function unmountVolume(mountPoint: string): Promise<void> {
  // A volume never made (its parent a file, as a failed probe's) has no record to remove either.
  await fs.promises.rm(holdersDir(mountPoint), { recursive: true, force: true }).catch(() => undefined);
  if (!isMountPoint(mountPoint)) return;
  await run('umount', ['-l', mountPoint]).catch(() => undefined);
}

/** Where the processes that opened the volume at `mountPoint` record themselves (outside what the sandbox sees). */
const holdersDir = (mountPoint: string) => `${mountPoint}.holders`;

/** The start time of process `pid` in clock ticks since boot, or undefined when there is no such process. */
function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields count from its last ')'; field 22 is the start.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * This process as a holder: host, pid and start time, so a new process that reuses a dead
 * holder's pid is not taken for it, and another host sharing the root never counts (a
 * mount is one host's).
 */
let ownHolderName: string | undefined;
function holderName(): string {
  return (ownHolderName ??= `${os.hostname()}.${process.pid}.${processStart(process.pid) ?? '0'}`);
}

function holderAlive(name: string): boolean {
  const parts = name.split('.');
  const start = parts.pop();
  const pid = Number(parts.pop());
  if (parts.join('.') !== os.hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  return processStart(pid) === start;
}

function recordHolder(mountPoint: string): void {
  const file = path.join(holdersDir(mountPoint), holderName());
  if (fs.existsSync(file)) return;
  fs.mkdirSync(holdersDir(mountPoint), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, '');
}

/** The mounts at or below `dir` on this host with their sources, deepest first (octal escapes of /proc/self/mountinfo decoded). */
export function mountsUnder(dir: string): { mountPoint: string; source: string }[] {
  const text = fs.existsSync('/proc/self/mountinfo') ? fs.readFileSync('/proc/self/mountinfo', 'utf8') : '';
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const found: { mountPoint: string; source: string }[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const at = fields.indexOf('-');
    if (fields.length < 5 || at < 0) continue;
    const mountPoint = unescape(fields[4]);
    if (mountPoint === dir || mountPoint.startsWith(dir + path.sep))
      found.push({ mountPoint, source: unescape(fields[at + 2] ?? '') });
  }
  return found.sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

/** The file behind loop device `device` (`/dev/loopN`), or undefined when it is free or not a loop device. */
function loopBackingFile(device: string): string | undefined {
  const name = /^\/dev\/(loop\d+)$/.exec(device)?.[1];
  if (!name) return undefined;
  try {
    return fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Unmounts the volumes under `root` that dead processes of this host left mounted (a
 * worker killed with SIGKILL), and detaches their loop devices. A volume with a live
 * holder (another worker sharing the root, a sandbox opened again since) is left alone,
 * and so is one no holder ever recorded (a worker of an older version may still use it).
 * A sandbox whose volume went this way is mounted again when a worker next opens it.
 * @returns the mount points unmounted.
 */
export async function sweepOrphanVolumes(root: string): Promise<string[]> {
  const swept: string[] = [];
  for (const { mountPoint, source } of mountsUnder(path.resolve(root))) {
    const holders = () => fs.readdirSync(holdersDir(mountPoint));
    if (!fs.existsSync(holdersDir(mountPoint)) || holders().some(holderAlive)) continue;
    const lock = `${mountPoint}.lock`;
    try {
      fs.mkdirSync(lock);
    } catch {
      continue; // being mounted or swept right now
    }
    try {
      // Again under the lock: a process that opened the volume meanwhile has recorded itself by now.
      if (holders().some(holderAlive)) continue;
      const backing = loopBackingFile(source);
      await run('umount', ['-l', mountPoint]);
      // `mount -o loop` frees the device on unmount; one that stayed is still this image's, and the lock keeps it so.
      if (backing && loopBackingFile(source) === backing) await run('losetup', ['-d', source]).catch(() => undefined);
      fs.rmSync(holdersDir(mountPoint), { recursive: true, force: true });
      swept.push(mountPoint);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  return swept;
}

export type DiskQuotaSupport = { ok: true } | { ok: false; why: string };

/**
 * Whether size-capped volumes work on this host: makes a small image under `dir` (the
 * directory that will hold the sandboxes, so the same filesystem), mounts it, writes past
 * its size, and removes it again.
 */
export async function probeDiskQuota(dir: string): Promise<DiskQuotaSupport> {
  const probe = path.join(dir, `.disk-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  const image = `${probe}.img`;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    await createVolumeImage(image, 8);
    await ensureVolumeMounted(image, probe);
    if (!isMountPoint(probe)) return { ok: false, why: 'the probe volume did not mount' };
    try {
      await fs.promises.writeFile(path.join(probe, 'fill'), Buffer.alloc(16 * 1024 * 1024));
      return { ok: false, why: "a write past the probe volume's size succeeded" };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, why: (err as Error).message.split('\n')[0] };
  } finally {
    await unmountVolume(probe);
    await fs.promises.rm(probe, { recursive: true, force: true }).catch(() => undefined);
    await fs.promises.rm(image, { force: true }).catch(() => undefined);
  }
}

const probes = new Map<string, Promise<DiskQuotaSupport>>();

/** probeDiskQuota, once per directory per process; the first call warns if quotas do not work. */
export function diskQuotaSupport(dir: string): Promise<DiskQuotaSupport> {
  const key = path.resolve(dir);
  let p = probes.get(key);
  if (!p) {
    p = probeDiskQuota(key).then((r) => {
      if (!r.ok) console.warn(`WARNING: ${diskUnboundedNote(r.why)}`);
      return r;
    });
    probes.set(key, p);
  }
  return p;
}

/** Probes already started in this process that found quotas not working (for the report). */
export async function failedDiskQuotaProbes(): Promise<string[]> {
  const results = await Promise.all([...probes.values()]);
  return results.flatMap((r) => (r.ok ? [] : [diskUnboundedNote(r.why)]));
}

export function diskUnboundedNote(why: string): string {
  return `local sandbox disks are NOT bounded on this worker (${why}); an agent can fill the disk holding NIGHTSHIFT_ROOT. Run the worker as root with loop devices and mkfs.ext4 (docs/sandboxes.md: Sandbox limits)`;
}
