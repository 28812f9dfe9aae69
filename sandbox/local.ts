/**
 * The `local` provider: one directory per sandbox on the worker host, every command run
 * under OS isolation (see os-isolation.ts). Layout of `<root>/<id>/`:
 *
 *   workspace/  the repository the agent works in (`.git` read-only inside the sandbox)
 *   tmp/        private TMPDIR, kept between commands
 *   home/       HOME, so tools' caches never touch the worker's home
 *   meta.json   what `connect(id)` needs to rebuild the sandbox (key, envs, network, limits)
 *
 * With a disk limit, workspace/, tmp/ and home/ live in `volume/` instead, a size-capped
 * filesystem image (`disk.img`) mounted there (see disk-volume.ts).
 *
 * The id is derived from the key, so create is idempotent without a lock: the directory
 * is built under a staging name and renamed into place, and the rename is atomic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PolicyViolation, SandboxGone } from '../common/errors';
import { isolate, type IsolatedCommand } from './os-isolation';
export { shutdownIsolation } from './os-isolation';
import { createVolumeImage, diskQuotaSupport, ensureVolumeMounted, unmountVolume, VOLUME_SUBDIRS } from './disk-volume';
import { CappedOutput, DEFAULT_MAX_OUTPUT_BYTES } from './output';
import { resolveInWorkspace } from './policy';
import { keyringDenyFilter } from './seccomp';
import { ensureSandboxCgroups, killSandboxCgroups } from './resource-cgroup';
import {
  DEFAULT_SANDBOX_LIMITS,
  type CreateSandboxOptions,
  type ExecOptions,
  type ExecResult,
  type FileEntry,
  type NetworkPolicy,
  type Sandbox,
  type SandboxLimits,
  type SandboxProvider,
} from './types';

export interface LocalProviderOptions {
  /** Directory holding one subdirectory per sandbox (the worker passes `<NIGHTSHIFT_ROOT>/.nightshift/sandboxes`). */
  root: string;
  /**
   * Most processes one sandbox may run at once: pids cgroup where writable, else
   * `ulimit -u` (which the kernel ignores for root). Shorthand for `limits.processes`.
   * @default 512
   */
  pidsLimit?: number;
  /** Limits of sandboxes created without their own; a sandbox's own limits win. @default DEFAULT_SANDBOX_LIMITS */
  limits?: SandboxLimits;
  /**
   * Disk size of sandboxes that name none, applied only where a probe shows size-capped
   * volumes work here (disk-volume.ts); elsewhere they run unbounded and the probe warns.
   * The worker sets DEFAULT_DISK_MB. @default none
   */
  defaultDiskMb?: number;
  /** @default 1 MiB per stream */
  maxOutputBytes?: number;
  /** Timeout of a command that names none. @default 30 minutes */
  defaultExecTimeoutMs?: number;
}

interface Meta {
  key: string;
  createdAt: string;
  envs: Record<string, string>;
  network: NetworkPolicy;
  timeoutMs?: number;
  limits?: SandboxLimits;
  /** Set when workspace, tmp and home live on a size-capped volume (see disk-volume.ts). */
  volume?: { sizeMb: number };
  /** Why a disk limit that was asked for is not enforced. */
  diskUnbounded?: string;
}

/**
 * Sandboxes and their root are the worker's alone: what the agent makes there is made as
 * the worker's user (root, for a root worker), so a setuid program or a world-writable
 * file in a workspace would otherwise be one `cd` away for every other user of the host.
 */
const PRIVATE_DIR_MODE = 0o700;

/** Names inside a sandbox's directory of the disk image and where it is mounted. */
const VOLUME_IMAGE = 'disk.img';
const VOLUME_MOUNT = 'volume';

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MIB = 1024 * 1024;
/** Commands still running, per sandbox id, so kill() reaches them from any Sandbox object. */
const running = new Map<string, Set<ChildProcess>>();
/**
 * A cgroup kill still emptying a sandbox's cgroup after a timeout or abort. The next
 * command waits for it: joining the cgroup while it is being emptied would get the new
 * command killed too.
 */
const draining = new Map<string, Promise<unknown>>();

/** A readable id from the key plus a hash, so distinct keys never collide. */
export function localSandboxId(key: string): string {
  const slug = key
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `sbx-${slug}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

export function createLocalProvider(options: LocalProviderOptions): SandboxProvider {
  const root = path.resolve(options.root);
  // Started now, so a worker that cannot bound disks says so at start-up, not at its first task.
  if (options.defaultDiskMb !== undefined) void diskQuotaSupport(root);
  return {
    async create(o: CreateSandboxOptions): Promise<Sandbox> {
      const id = localSandboxId(o.key);
      const dir = path.join(root, id);
      if (!fs.existsSync(path.join(dir, 'meta.json'))) {
        await fs.promises.mkdir(root, { recursive: true });
        await fs.promises.chmod(root, PRIVATE_DIR_MODE);
        const staging = path.join(root, `.staging-${id}-${randomBytes(6).toString('hex')}`);
        await fs.promises.mkdir(staging, { recursive: true, mode: PRIVATE_DIR_MODE });
        const meta: Meta = {
          key: o.key,
          createdAt: new Date().toISOString(),
          envs: o.envs ?? {},
          network: o.network ?? 'none',
          timeoutMs: o.timeoutMs,
          limits: o.limits,
        };
        let diskMb = o.limits?.diskMb ?? options.limits?.diskMb;
        if (diskMb === undefined && options.defaultDiskMb !== undefined && (await diskQuotaSupport(root)).ok)
          diskMb = options.defaultDiskMb;
        if (diskMb !== undefined) {
          try {
            await createVolumeImage(path.join(staging, VOLUME_IMAGE), diskMb, { templateDir: root });
            await ensureVolumeMounted(path.join(staging, VOLUME_IMAGE), path.join(staging, VOLUME_MOUNT));
            meta.volume = { sizeMb: diskMb };
          } catch (err) {
            await unmountVolume(path.join(staging, VOLUME_MOUNT));
            await fs.promises.rm(path.join(staging, VOLUME_IMAGE), { force: true });
            meta.diskUnbounded = `no disk quota (${diskMb} MiB asked): ${(err as Error).message.split('\n')[0]}`;
            console.warn(`local sandbox ${id}: ${meta.diskUnbounded}`);
          }
        }
        const base = meta.volume ? path.join(staging, VOLUME_MOUNT) : staging;
        for (const sub of VOLUME_SUBDIRS) await fs.promises.mkdir(path.join(base, sub), { recursive: true });
        await fs.promises.writeFile(path.join(staging, 'meta.json'), JSON.stringify(meta, null, 2));
        try {
          // The volume stays mounted through the rename: a mount moves with its parent.
          await fs.promises.rename(staging, dir);
        } catch (err) {
          await unmountVolume(path.join(staging, VOLUME_MOUNT));
          await fs.promises.rm(staging, { recursive: true, force: true });
          // Another create with the same key won the race: use its sandbox.
          if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        }
      }
      return openSandbox(id);
    },
    async connect(id: string): Promise<Sandbox> {
      return openSandbox(id);
    },
    async discard(key: string): Promise<boolean> {
      let sandbox: LocalSandbox;
      try {
        // Not mounted first: a volume about to be deleted needs no mount.
        sandbox = await openSandbox(localSandboxId(key), { mount: false });
      } catch (err) {
        if (err instanceof SandboxGone) return false;
        throw err;
      }
      return sandbox.kill();
    },
  };

  async function openSandbox(id: string, o: { mount?: boolean } = {}): Promise<LocalSandbox> {
    if (!/^sbx-[a-z0-9-]+$/.test(id)) throw new SandboxGone(`no local sandbox ${JSON.stringify(id)}`);
    const dir = path.join(root, id);
    let meta: Meta;
    try {
      meta = JSON.parse(await fs.promises.readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
    } catch {
      throw new SandboxGone(`local sandbox ${id} is gone (no ${dir})`);
    }
    // A sandbox made before its directory was private is made private now.
    await fs.promises.chmod(dir, PRIVATE_DIR_MODE).catch(() => undefined);
    // After a reboot (or a kill that raced this open) the volume may need mounting again.
    if (meta.volume && o.mount !== false && fs.existsSync(path.join(dir, VOLUME_IMAGE)))
      await ensureVolumeMounted(path.join(dir, VOLUME_IMAGE), path.join(dir, VOLUME_MOUNT));
    return new LocalSandbox(id, dir, meta, { ...options, root });
  }
}

export class LocalSandbox implements Sandbox {
  /** Host path of the workspace; the worker's git operations (checkpoint, push) use it. */
  readonly workspaceDir: string;
  /** Host paths of the sandbox's TMPDIR and HOME. */
  readonly tmpDir: string;
  readonly homeDir: string;

  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly meta: Meta,
    private readonly options: LocalProviderOptions,
  ) {
    const base = meta.volume ? path.join(dir, VOLUME_MOUNT) : dir;
    this.workspaceDir = path.join(base, 'workspace');
    this.tmpDir = path.join(base, 'tmp');
    this.homeDir = path.join(base, 'home');
  }

  /** Commands see the workspace at its host path (it is bound there). */
  get workdir(): string {
    return this.workspaceDir;
  }

  /** Why the sandbox's disk is not bounded although a limit was asked for; undefined when it is, or none was asked. */
  get diskUnbounded(): string | undefined {
    return this.meta.diskUnbounded;
  }

  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    this.assertAlive();
    await draining.get(this.id);
    const cwd = resolveInWorkspace(this.workspaceDir, o.cwd ?? '.');
    const tmp = this.tmpDir;
    const home = this.homeDir;
    const network = this.meta.network;
    const limits = {
      ...DEFAULT_SANDBOX_LIMITS,
      ...(this.options.pidsLimit ? { processes: this.options.pidsLimit } : {}),
      ...this.options.limits,
      ...this.meta.limits,
    };
    const gitGuard = await holdGitReadOnly(this.id, this.workspaceDir);
    let isolated: IsolatedCommand;
    try {
      isolated = await isolate(cmd, {
        writable: [this.workspaceDir, tmp, home],
        readOnly: [gitGuard.path],
        cwd,
        env: { PATH: BASE_PATH, HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8', ...this.meta.envs, ...o.envs },
        allowHosts: network === 'none' ? [] : network.allow,
      });
    } catch (err) {
      await gitGuard.release();
      throw err;
    }
    const seccomp = await this.seccompFilterFile();
    const cgroups = ensureSandboxCgroups(this.id, {
      pids: limits.processes,
      memoryBytes: limits.memoryMb * MIB,
      cpus: limits.cpus,
    });
    const oomBefore = cgroups.oomKills();
    // Joining the cgroups before bubblewrap starts puts every descendant in them; `exec`
    // makes bubblewrap the worker's own child, so --die-with-parent ends it with the worker.
    const prelude = [
      ...cgroups.procsFiles.map((f) => `echo $$ > ${shellQuote(f)} || exit 125`),
      cgroups.enforced.has('pids') ? '' : `ulimit -u ${limits.processes} 2>/dev/null`,
      `ulimit -n ${limits.openFiles} || exit 125`,
      seccomp ? `exec bwrap --seccomp 3 "$@" 3< ${shellQuote(seccomp)}` : 'exec bwrap "$@"',
    ].join('\n');
    const max = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedOutput(max, o.onOutput);
    const stderr = new CappedOutput(max, o.onOutput);
    const timeoutMs = o.timeoutMs ?? this.options.defaultExecTimeoutMs ?? 30 * 60_000;

    return new Promise<ExecResult>((resolve, reject) => {
      // detached: its own process group, so a timeout kills the whole tree at once.
      const child = spawn('/bin/bash', ['-c', prelude, 'nightshift-sandbox', ...isolated.args], {
        cwd: this.workspaceDir,
        env: { PATH: BASE_PATH },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const set = running.get(this.id) ?? new Set<ChildProcess>();
      running.set(this.id, set);
      set.add(child);
      let timedOut = false;
      let aborted = false;
      const killTree = () => {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // already exited
          }
        }
        if (cgroups.procsFiles.length > 0 && !draining.has(this.id)) {
          const id = this.id;
          const drained: Promise<unknown> = killSandboxCgroups(id, { keep: true }).finally(() => {
            if (draining.get(id) === drained) draining.delete(id);
          });
          draining.set(id, drained);
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killTree();
      }, timeoutMs);
      const onAbort = () => {
        aborted = true;
        killTree();
      };
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (c: Buffer) => stdout.push(c));
      child.stderr.on('data', (c: Buffer) => stderr.push(c));
      const finish = () => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        set.delete(child);
        return Promise.all([isolated.release(), gitGuard.release()]);
      };
      child.on('error', (err) => {
        void finish().finally(() => reject(err));
      });
      child.on('close', (code, sig) => {
        // A killed command reports back only once its whole cgroup is empty.
        void Promise.all([finish(), draining.get(this.id)]).then(
          () => settle(code, sig),
          (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
        );
      });
      const settle = (code: number | null, sig: NodeJS.Signals | null) => {
        if (aborted) {
          reject(
            o.signal?.reason instanceof Error
              ? o.signal.reason
              : Object.assign(new Error('exec aborted'), { name: 'AbortError' }),
          );
          return;
        }
        const oomAfter = cgroups.oomKills();
        let note = timedOut ? `\n[nightshift: killed after ${timeoutMs} ms timeout]\n` : '';
        if (oomBefore !== undefined && oomAfter !== undefined && oomAfter > oomBefore) {
          note += `\n[nightshift: killed: out of memory (limit ${limits.memoryMb} MiB)]\n`;
        }
        const exitCode = code ?? 128 + signalNumber(sig);
        resolve({ exitCode, stdout: stdout.text(), stderr: stderr.text() + note, timedOut });
      };
    });
  }

  /**
   * The file's bytes, read without trusting the workspace: the last component is not
   * followed, a FIFO, socket or device is refused without blocking, the descriptor is
   * checked to lie inside the workspace, and a file larger than `maxBytes` is refused
   * (EFBIG) before anything is read, so a sparse 512 MiB file costs nothing.
   */
  async readFile(p: string, o: { maxBytes?: number } = {}): Promise<Uint8Array> {
    this.assertAlive();
    const max = o.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    const fh = await this.openInWorkspace(
      resolveInWorkspace(this.workspaceDir, p),
      O_RDONLY | O_NOFOLLOW | O_NONBLOCK,
      p,
    );
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw fileError('EISDIR', `${p} is a directory`);
      if (st.size > max) throw fileError('EFBIG', `${p} is ${st.size} bytes, more than the ${max} that may be read`);
      // The size can grow after the stat: read at most what was promised, and no more.
      const buf = Buffer.alloc(st.size);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return new Uint8Array(buf.buffer, buf.byteOffset, got);
    } finally {
      await fh.close();
    }
  }

  async writeFile(p: string, data: string | Uint8Array): Promise<void> {
    this.assertAlive();
    const real = resolveInWorkspace(this.workspaceDir, p, { forWrite: true });
    await fs.promises.mkdir(path.dirname(real), { recursive: true });
    // O_NOFOLLOW: a symlink swapped in after the check is refused, not followed; O_NONBLOCK:
    // a FIFO without a reader fails at once instead of holding a libuv thread.
    const { O_WRONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    const fh = await this.openInWorkspace(real, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, p, 0o644);
    try {
      // Truncated only once known to be a regular file inside the workspace.
      await fh.truncate(0);
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
  }

  /**
   * Opens `real` and checks what was opened: a regular file or directory inside the
   * workspace (an intermediate directory swapped for a symlink after the path was
   * resolved shows up here). Anything else is closed and refused.
   */
  private async openInWorkspace(
    real: string,
    flags: number,
    spelled: string,
    mode?: number,
  ): Promise<fs.promises.FileHandle> {
    const fh = await fs.promises.open(real, flags, mode).catch((err: NodeJS.ErrnoException) => {
      // ENXIO: a socket, or a FIFO opened for writing with nobody reading; ELOOP: a symlink.
      if (err.code === 'ENXIO' || err.code === 'ELOOP') throw fileError('EFTYPE', `${spelled} is not a regular file`);
      throw err;
    });
    try {
      const st = await fh.stat();
      if (!st.isFile() && !st.isDirectory()) throw fileError('EFTYPE', `${spelled} is not a regular file`);
      const opened = await fs.promises.readlink(`/proc/self/fd/${fh.fd}`).catch(() => real);
      const root = fs.realpathSync(this.workspaceDir);
      if (opened !== root && !opened.startsWith(root + path.sep))
        throw fileError('EACCES', `${spelled} resolves outside the workspace`);
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * Entries below `p`, with paths relative to the workspace root. Symlinks are listed
   * (flagged) but not followed; FIFOs, sockets and devices are left out: nothing on the
   * host may open them.
   */
  async list(p: string, o: { depth?: number; maxEntries?: number } = {}): Promise<FileEntry[]> {
    this.assertAlive();
    const start = resolveInWorkspace(this.workspaceDir, p);
    const rootReal = resolveInWorkspace(this.workspaceDir, '.');
    const max = o.maxEntries ?? Infinity;
    const out: FileEntry[] = [];
    const walk = async (dir: string, depth: number) => {
      // A directory the host cannot open or stat (a path past PATH_MAX, one removed meanwhile) is left out, not fatal.
      const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const d of entries) {
        if (out.length >= max) return;
        if (!d.isDirectory() && !d.isFile() && !d.isSymbolicLink()) continue;
        const full = path.join(dir, d.name);
        const st = await fs.promises.lstat(full).catch(() => undefined);
        if (!st) continue;
        const type = d.isDirectory() ? 'dir' : 'file';
        out.push({
          path: path.relative(rootReal, full).split(path.sep).join('/'),
          type,
          size: st.size,
          ...(d.isSymbolicLink() ? { symlink: true } : {}),
        });
        if (type === 'dir' && depth > 1) await walk(full, depth - 1);
      }
    };
    await walk(start, o.depth ?? 1);
    return out;
  }

  async kill(): Promise<boolean> {
    for (const child of running.get(this.id) ?? []) {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already exited
        }
      }
    }
    running.delete(this.id);
    await killSandboxCgroups(this.id);
    await unmountVolume(path.join(this.dir, VOLUME_MOUNT));
    // Rename first so that a concurrent connect sees the sandbox gone at once.
    const trash = path.join(path.dirname(this.dir), `.trash-${this.id}-${randomBytes(6).toString('hex')}`);
    try {
      await fs.promises.rename(this.dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fs.promises.rm(trash, { recursive: true, force: true, maxRetries: 3 });
    return true;
  }

  /** The sandbox's seccomp filter (see seccomp.ts), kept beside meta.json where no command sees it. */
  private async seccompFilterFile(): Promise<string | null> {
    const filter = keyringDenyFilter();
    if (!filter) return null;
    const file = path.join(this.dir, 'seccomp.bpf');
    const current = await fs.promises.readFile(file).catch(() => undefined);
    if (!current?.equals(filter)) {
      const staging = `${file}.${randomBytes(4).toString('hex')}`;
      await fs.promises.writeFile(staging, filter, { mode: 0o600 });
      await fs.promises.rename(staging, file);
    }
    return file;
  }

  private assertAlive(): void {
    if (!fs.existsSync(path.join(this.dir, 'meta.json')) || !fs.existsSync(this.workspaceDir)) {
      throw new SandboxGone(`local sandbox ${this.id} is gone`);
    }
  }
}

/** Commands running per sandbox that hold a placeholder `.git` (see holdGitReadOnly). */
const placeholderHolders = new Map<string, number>();

/**
 * Makes sure the workspace root has a `.git` to bind read-only over, so the agent can
 * neither change a repository's git directory nor create one of its own (host git would
 * otherwise meet agent-made config). Without a repository, an empty regular file stands
 * in while commands run and is removed after the last one: an empty `.git` file is never
 * a repository, so one left by a killed worker is recognised and reused.
 */
async function holdGitReadOnly(id: string, workspace: string): Promise<{ path: string; release(): Promise<void> }> {
  const gitPath = path.join(workspace, '.git');
  // Counted before anything awaits: a command of this sandbox that ends meanwhile then sees
  // this one and leaves the placeholder for it, instead of removing it under its bind.
  placeholderHolders.set(id, (placeholderHolders.get(id) ?? 0) + 1);
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    const left = (placeholderHolders.get(id) ?? 1) - 1;
    if (left > 0) {
      placeholderHolders.set(id, left);
      return;
    }
    placeholderHolders.delete(id);
    // Synchronous from the count to the removal, so no command can take the placeholder in between.
    const now = fs.lstatSync(gitPath, { throwIfNoEntry: false });
    if (now?.isFile() && now.size === 0) fs.rmSync(gitPath, { force: true });
  };
  try {
    let st: fs.Stats | undefined;
    try {
      st = await fs.promises.lstat(gitPath);
    } catch {
      // absent
    }
    if (st && !st.isFile() && !st.isDirectory()) {
      // A symlink would make bubblewrap bind whatever host path it names.
      throw new PolicyViolation(
        'no-git-writes',
        '.git',
        `the workspace's .git is a ${st.isSymbolicLink() ? 'symlink' : 'special file'}; refusing to run`,
      );
    }
    if (!st) {
      try {
        await (
          await fs.promises.open(
            gitPath,
            fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
            0o444,
          )
        ).close();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  // A repository's .git (a directory, or a non-empty gitdir file) is never removed: release
  // removes only an empty placeholder file.
  return { path: gitPath, release };
}

/** Most a readFile reads when the caller names no limit; readers of large files (bundles) name theirs. */
const DEFAULT_MAX_READ_BYTES = 64 * 1024 * 1024;

function fileError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? (os.constants.signals[sig] ?? 0) : 0;
}
