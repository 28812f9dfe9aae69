/**
 * The `local` provider: one directory per sandbox on the worker host, every command run
 * under OS isolation (see os-isolation.ts). Layout of `<root>/<id>/`:
 *
 *   workspace/  the repository the agent works in (`.git` read-only inside the sandbox)
 *   tmp/        private TMPDIR, kept between commands
 *   home/       HOME, so tools' caches never touch the worker's home
 *   meta.json   what `connect(id)` needs to rebuild the sandbox (key, envs, network)
 *
 * The id is derived from the key, so create is idempotent without a lock: the directory
 * is built under a staging name and renamed into place, and the rename is atomic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxGone } from '../common/errors';
import { isolate } from './os-isolation';
export { shutdownIsolation } from './os-isolation';
import { CappedOutput, DEFAULT_MAX_OUTPUT_BYTES } from './output';
import { ensurePidsCgroup, killPidsCgroup } from './pids-cgroup';
import { resolveInWorkspace } from './policy';
import type { CreateSandboxOptions, ExecOptions, ExecResult, FileEntry, NetworkPolicy, Sandbox, SandboxProvider } from './types';

export interface LocalProviderOptions {
  /** Directory holding one subdirectory per sandbox (the worker passes `<NIGHTSHIFT_ROOT>/.nightshift/sandboxes`). */
  root: string;
  /**
   * More host paths the sandbox may not read. The nightshift checkout, the parent of
   * `root` (other sandboxes, transcripts, checkpoints), home directories, /tmp and
   * credential files are always hidden.
   * @default []
   */
  denyRead?: string[];
  /**
   * Most processes one sandbox may run at once: pids cgroup where writable, else
   * `ulimit -u` (which the kernel ignores for root).
   * @default 512
   */
  pidsLimit?: number;
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
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
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
  const slug = key.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return `sbx-${slug}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

export function createLocalProvider(options: LocalProviderOptions): SandboxProvider {
  const root = path.resolve(options.root);
  return {
    async create(o: CreateSandboxOptions): Promise<Sandbox> {
      const id = localSandboxId(o.key);
      const dir = path.join(root, id);
      if (!fs.existsSync(path.join(dir, 'meta.json'))) {
        await fs.promises.mkdir(root, { recursive: true });
        const staging = path.join(root, `.staging-${id}-${randomBytes(6).toString('hex')}`);
        for (const sub of ['workspace', 'tmp', 'home']) await fs.promises.mkdir(path.join(staging, sub), { recursive: true });
        const meta: Meta = { key: o.key, createdAt: new Date().toISOString(), envs: o.envs ?? {}, network: o.network ?? 'none', timeoutMs: o.timeoutMs };
        await fs.promises.writeFile(path.join(staging, 'meta.json'), JSON.stringify(meta, null, 2));
        try {
          await fs.promises.rename(staging, dir);
        } catch (err) {
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
  };

  async function openSandbox(id: string): Promise<LocalSandbox> {
    if (!/^sbx-[a-z0-9-]+$/.test(id)) throw new SandboxGone(`no local sandbox ${JSON.stringify(id)}`);
    const dir = path.join(root, id);
    let meta: Meta;
    try {
      meta = JSON.parse(await fs.promises.readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
    } catch {
      throw new SandboxGone(`local sandbox ${id} is gone (no ${dir})`);
    }
    return new LocalSandbox(id, dir, meta, { ...options, root });
  }
}

export class LocalSandbox implements Sandbox {
  /** Host path of the workspace; the worker's git operations (checkpoint, push) use it. */
  readonly workspaceDir: string;

  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly meta: Meta,
    private readonly options: LocalProviderOptions,
  ) {
    this.workspaceDir = path.join(dir, 'workspace');
  }

  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    this.assertAlive();
    await draining.get(this.id);
    const cwd = resolveInWorkspace(this.workspaceDir, o.cwd ?? '.');
    const tmp = path.join(this.dir, 'tmp');
    const home = path.join(this.dir, 'home');
    const network = this.meta.network;
    const isolated = await isolate(`export TMPDIR=${shellQuote(tmp)}\n${cmd}`, {
      writable: [this.workspaceDir, tmp, home],
      // Only when present: a deny on a missing path makes bubblewrap create a placeholder.
      readOnly: fs.existsSync(path.join(this.workspaceDir, '.git')) ? [path.join(this.workspaceDir, '.git')] : [],
      denyRead: [path.dirname(this.options.root), this.options.root, ...(this.options.denyRead ?? [])],
      allowHosts: network === 'none' ? [] : network.allow,
    });
    const pidsLimit = this.options.pidsLimit ?? 512;
    const cgroup = ensurePidsCgroup(this.id, pidsLimit);
    // Joining the cgroup before bubblewrap starts puts every descendant in it.
    const limit = cgroup ? `echo $$ > ${shellQuote(path.join(cgroup, 'cgroup.procs'))} || exit 125` : `ulimit -u ${pidsLimit} 2>/dev/null`;
    const env = { PATH: BASE_PATH, HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8', ...this.meta.envs, ...o.envs };
    const max = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedOutput(max, o.onOutput);
    const stderr = new CappedOutput(max, o.onOutput);
    const timeoutMs = o.timeoutMs ?? this.options.defaultExecTimeoutMs ?? 30 * 60_000;

    return new Promise<ExecResult>((resolve, reject) => {
      // detached: its own process group, so a timeout kills bash and bubblewrap together;
      // bubblewrap's --die-with-parent then takes the whole PID namespace down.
      const child = spawn('/bin/bash', ['-c', `${limit}\n${isolated.script}`], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
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
        if (cgroup && !draining.has(this.id)) {
          const id = this.id;
          const drained: Promise<unknown> = killPidsCgroup(id, { keep: true }).finally(() => {
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
        isolated.release();
      };
      child.on('error', (err) => {
        finish();
        reject(err);
      });
      child.on('close', (code, sig) => {
        finish();
        // A killed command reports back only once its whole cgroup is empty.
        void (draining.get(this.id) ?? Promise.resolve()).then(() => settle(code, sig));
      });
      const settle = (code: number | null, sig: NodeJS.Signals | null) => {
        if (aborted) {
          reject(o.signal?.reason instanceof Error ? o.signal.reason : Object.assign(new Error('exec aborted'), { name: 'AbortError' }));
          return;
        }
        const note = timedOut ? `\n[nightshift: killed after ${timeoutMs} ms timeout]\n` : '';
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
    const fh = await this.openInWorkspace(resolveInWorkspace(this.workspaceDir, p), O_RDONLY | O_NOFOLLOW | O_NONBLOCK, p);
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
  private async openInWorkspace(real: string, flags: number, spelled: string, mode?: number): Promise<fs.promises.FileHandle> {
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
      if (opened !== root && !opened.startsWith(root + path.sep)) throw fileError('EACCES', `${spelled} resolves outside the workspace`);
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
  async list(p: string, o: { depth?: number } = {}): Promise<FileEntry[]> {
    this.assertAlive();
    const start = resolveInWorkspace(this.workspaceDir, p);
    const rootReal = resolveInWorkspace(this.workspaceDir, '.');
    const out: FileEntry[] = [];
    const walk = async (dir: string, depth: number) => {
      for (const d of await fs.promises.readdir(dir, { withFileTypes: true })) {
        if (!d.isDirectory() && !d.isFile() && !d.isSymbolicLink()) continue;
        const full = path.join(dir, d.name);
        const st = await fs.promises.lstat(full);
        const type = d.isDirectory() ? 'dir' : 'file';
        out.push({ path: path.relative(rootReal, full).split(path.sep).join('/'), type, size: st.size, ...(d.isSymbolicLink() ? { symlink: true } : {}) });
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
    await killPidsCgroup(this.id);
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

  private assertAlive(): void {
    if (!fs.existsSync(path.join(this.dir, 'meta.json')) || !fs.existsSync(this.workspaceDir)) {
      throw new SandboxGone(`local sandbox ${this.id} is gone`);
    }
  }
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
