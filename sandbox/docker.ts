/**
 * The `docker` provider: one container per task, named and labelled after its key so a
 * second create (another attempt, a racing worker, a restarted one) finds it again, with
 * the workspace on a named volume, no network unless the task lists hosts, and the
 * task's memory, CPU, process and open-file bounds applied by the engine.
 *
 * Everything runs inside the container through exec: the worker never reads the
 * container's files itself (file contents travel over the exec's streams), so what the
 * agent puts in its workspace is never interpreted on the host.
 */
import Docker from 'dockerode';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { dockerHost } from '../common/config';
import { SandboxGone } from '../common/errors';
import { proxyEnv, startEgressProxy, type EgressProxy } from './egress-proxy';
import { CappedOutput, DEFAULT_MAX_OUTPUT_BYTES } from './output';
import {
  DEFAULT_SANDBOX_LIMITS,
  type CreateSandboxOptions,
  type ExecOptions,
  type ExecResult,
  type FileEntry,
  type Sandbox,
  type SandboxProvider,
} from './types';

export const DOCKER_KEY_LABEL = 'nightshift.key';
/** The hosts a container may reach through the egress proxy, comma-separated; absent for none. */
export const DOCKER_ALLOW_LABEL = 'nightshift.network-allow';

/** Where the egress proxy's socket appears inside a container, and the bridge's port. */
/** Where the container's workspace volume is mounted, unless the provider names another path. */
export const DOCKER_WORKDIR = '/workspace';
const EGRESS_DIR_INSIDE = '/run/nightshift';
const EGRESS_SOCKET = 'egress.sock';
const PROXY_PORT = 3128;
const MIB = 1024 * 1024;
const DEFAULT_MAX_READ_BYTES = 64 * MIB;

export interface DockerProviderOptions {
  /** Image when create names no template. @default 'node:20-bookworm' */
  image?: string;
  /** Engine connection (socketPath or host/port). @default DOCKER_HOST or the local socket */
  docker?: Docker.DockerOptions;
  /** Where the workspace volume is mounted. @default DOCKER_WORKDIR */
  workdir?: string;
  /** @default 1 MiB per stream */
  maxOutputBytes?: number;
  /** @default 30 minutes */
  defaultExecTimeoutMs?: number;
  /**
   * Host directory holding each allowlisted container's egress socket directory (bound
   * into the container, so the engine must run on this host). Kept short: Unix socket
   * paths are limited to 108 bytes. @default <os tmpdir>/nightshift-docker-egress
   */
  egressDir?: string;
}

/** The engine could not be reached; says where it looked. */
export class DockerUnavailable extends Error {
  constructor(where: string, cause: unknown) {
    super(
      `docker engine unreachable at ${where}: ${cause instanceof Error ? cause.message : String(cause)} (is Docker running, and is the socket readable by the worker?)`,
    );
    this.name = 'DockerUnavailable';
  }
}

type Engine = <T>(f: () => Promise<T>) => Promise<T>;

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** Container and volume names: docker allows [a-zA-Z0-9_.-]; the hash keeps distinct keys apart. */
function namesFor(key: string): { container: string; volume: string; egress: string } {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  const readable = key
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .slice(0, 100);
  return { container: `nightshift-${readable}-${hash}`, volume: `nightshift-${readable}-${hash}`, egress: hash };
}

export function createDockerProvider(options: DockerProviderOptions = {}): SandboxProvider {
  const docker = new Docker(options.docker);
  const where = options.docker?.socketPath ?? options.docker?.host ?? dockerHost() ?? '/var/run/docker.sock';
  const egressRoot = options.egressDir ?? path.join(os.tmpdir(), 'nightshift-docker-egress');
  const proxies = new EgressProxies();
  const engine: Engine = async (f) => {
    try {
      return await f();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'EHOSTUNREACH')
        throw new DockerUnavailable(where, err);
      throw err;
    }
  };

  /** The sandbox for a container, with its allowlist read back from the label the worker set. */
  const wrap = (c: Docker.Container, labels: Record<string, string> | undefined): DockerSandbox => {
    const allow = labels?.[DOCKER_ALLOW_LABEL]?.split(',').filter(Boolean) ?? [];
    const key = labels?.[DOCKER_KEY_LABEL];
    const egress =
      allow.length > 0 && key !== undefined
        ? { socketPath: path.join(egressRoot, namesFor(key).egress, EGRESS_SOCKET), allow }
        : undefined;
    return new DockerSandbox(
      c,
      options,
      engine,
      egress,
      proxies,
      docker,
      key === undefined ? undefined : namesFor(key).volume,
    );
  };

  /** Starts a stopped container (a rebooted engine); its egress directory must exist to be bound again. */
  const ensureRunning = async (info: Docker.ContainerInfo): Promise<DockerSandbox> => {
    const c = docker.getContainer(info.Id);
    const key = info.Labels?.[DOCKER_KEY_LABEL];
    if (info.Labels?.[DOCKER_ALLOW_LABEL] && key !== undefined)
      await fs.promises.mkdir(path.join(egressRoot, namesFor(key).egress), { recursive: true, mode: 0o700 });
    if (info.State !== 'running') {
      await engine(() => c.start()).catch((err: unknown) => {
        if (statusOf(err) !== 304) throw err; // 304: started meanwhile by another caller
      });
    }
    return wrap(c, info.Labels);
  };

  const findByKey = async (key: string): Promise<Docker.ContainerInfo | undefined> => {
    const found = await engine(() =>
      docker.listContainers({ all: true, filters: { label: [`${DOCKER_KEY_LABEL}=${key}`] } }),
    );
    return found.find((c) => c.Labels?.[DOCKER_KEY_LABEL] === key);
  };

  const createOnce = async (o: CreateSandboxOptions): Promise<Sandbox> => {
    const existing = await findByKey(o.key);
    if (existing) return ensureRunning(existing);

    const names = namesFor(o.key);
    const allow = o.network === undefined || o.network === 'none' ? [] : o.network.allow;
    if (allow.some((h) => h.includes(',')))
      throw new Error(`a network allowlist entry may not contain a comma: ${allow.join(' ')}`);
    const workdir = options.workdir ?? DOCKER_WORKDIR;
    const limits = { ...DEFAULT_SANDBOX_LIMITS, ...o.limits };
    const env: Record<string, string> = { ...o.envs };
    const mounts: Docker.MountConfig = [{ Type: 'volume', Source: names.volume, Target: workdir }];
    const labels: Record<string, string> = { [DOCKER_KEY_LABEL]: o.key };
    if (allow.length > 0) {
      const dir = path.join(egressRoot, names.egress);
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      // Read-only: the container may connect to the socket (a Unix socket on a read-only
      // mount still accepts connections) but cannot plant anything in the worker's directory.
      mounts.push({ Type: 'bind', Source: dir, Target: EGRESS_DIR_INSIDE, ReadOnly: true });
      labels[DOCKER_ALLOW_LABEL] = allow.join(',');
      Object.assign(env, proxyEnv(`http://127.0.0.1:${PROXY_PORT}`));
    }
    const image = o.template ?? options.image ?? 'node:20-bookworm';
    let c: Docker.Container;
    try {
      c = await engine(() =>
        docker.createContainer({
          name: names.container,
          Image: image,
          Cmd: ['sleep', 'infinity'],
          Labels: labels,
          Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
          WorkingDir: workdir,
          HostConfig: {
            // Loopback only: the egress bridge listens there, and nothing else goes out.
            NetworkMode: 'none',
            Mounts: mounts,
            Memory: limits.memoryMb * MIB,
            // Equal to Memory: no swap on top of it.
            MemorySwap: limits.memoryMb * MIB,
            NanoCpus: Math.round(limits.cpus * 1e9),
            PidsLimit: limits.processes,
            Ulimits: [{ Name: 'nofile', Soft: limits.openFiles, Hard: limits.openFiles }],
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
            // An init as PID 1 reaps what commands leave behind in the background.
            Init: true,
          },
        }),
      );
    } catch (err) {
      if (statusOf(err) === 409) {
        // Another creator with the same key won the name; theirs is the sandbox, listed
        // once the engine has finished making it.
        for (let i = 0; i < 50; i++) {
          const winner = await findByKey(o.key);
          if (winner) return ensureRunning(winner);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (statusOf(err) === 404)
        throw new Error(
          `docker image ${image} is not on the engine at ${where} (pull it, or import one; see docs/sandboxes.md)`,
        );
      throw err;
    }
    await engine(() => c.start()).catch((err: unknown) => {
      if (statusOf(err) !== 304) throw err;
    });
    return wrap(c, labels);
  };

  return {
    async create(o: CreateSandboxOptions): Promise<Sandbox> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await createOnce(o);
        } catch (err) {
          // The container found or made was removed before it started (a racing kill, or
          // a creator that lost the name): look again.
          if (statusOf(err) !== 404 || attempt >= 3) throw err;
        }
      }
    },

    async connect(id: string): Promise<Sandbox> {
      const c = docker.getContainer(id);
      let info: Docker.ContainerInspectInfo;
      try {
        info = await engine(() => c.inspect());
      } catch (err) {
        if (statusOf(err) === 404) throw new SandboxGone(`docker sandbox ${id} is gone`);
        throw err;
      }
      if (!info.State.Running) throw new SandboxGone(`docker sandbox ${id} is not running`);
      return wrap(c, info.Config.Labels);
    },
  };
}

/**
 * The worker's end of each allowlisted container's egress socket, open while at least
 * one command of that container runs, so no proxy outlives the commands that need it.
 */
class EgressProxies {
  private readonly open = new Map<string, { proxy: Promise<EgressProxy>; users: number }>();

  async acquire(socketPath: string, allow: string[]): Promise<() => Promise<void>> {
    let entry = this.open.get(socketPath);
    if (!entry) {
      await fs.promises.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
      entry = { proxy: startEgressProxy(socketPath, allow), users: 0 };
      this.open.set(socketPath, entry);
    }
    entry.users += 1;
    const held = entry;
    try {
      await held.proxy;
    } catch (err) {
      held.users -= 1;
      if (this.open.get(socketPath) === held) this.open.delete(socketPath);
      throw err;
    }
    return async () => {
      held.users -= 1;
      if (held.users > 0) return;
      if (this.open.get(socketPath) === held) this.open.delete(socketPath);
      await (await held.proxy).close();
    };
  }
}

/** A command's raw result: the exit code and what it wrote, before any text decoding. */
interface RawRun {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

class DockerSandbox implements Sandbox {
  readonly id: string;
  readonly workdir: string;
  constructor(
    private readonly c: Docker.Container,
    private readonly options: DockerProviderOptions,
    private readonly engine: Engine,
    private readonly egress: { socketPath: string; allow: string[] } | undefined,
    private readonly proxies: EgressProxies,
    private readonly docker: Docker,
    /** The workspace volume's name, known from the key label. */
    private readonly volume: string | undefined,
  ) {
    this.id = c.id;
    this.workdir = options.workdir ?? DOCKER_WORKDIR;
  }

  private abs(p: string): string {
    return path.posix.resolve(this.workdir, p);
  }

  /**
   * Runs `script` with `sh -c` under `timeout` (which makes itself a process group leader
   * and kills that group), recording the group's id in a file so an abort can kill it:
   * docker exec has no kill of its own. Arguments are passed as positional parameters,
   * never spliced into the script.
   */
  private async run(
    script: string,
    args: string[],
    o: ExecOptions & { stdin?: Uint8Array; sink: (stream: 'stdout' | 'stderr', chunk: Buffer) => void },
  ): Promise<Omit<RawRun, 'stdout' | 'stderr'>> {
    const timeoutMs = o.timeoutMs ?? this.options.defaultExecTimeoutMs ?? 30 * 60_000;
    const timeoutS = Math.max(1, Math.ceil(timeoutMs / 1000));
    const pidFile = `/tmp/.nightshift-exec-${randomBytes(8).toString('hex')}`;
    let bridge = '';
    if (this.egress) {
      // The bridge from the container's loopback to the proxy socket. setsid keeps it out
      // of the command's process group (a timeout kills that group); the command starts
      // once it listens (0C38 = 3128, 0A = LISTEN). Started again if a command killed it.
      const listening = `grep -q ':0C38 00000000:0000 0A' /proc/net/tcp 2>/dev/null`;
      bridge = [
        `if ! ${listening}; then`,
        `  command -v socat >/dev/null || { echo 'nightshift: this image has no socat; the docker provider needs it for a network allowlist' >&2; exit 127; }`,
        `  setsid socat TCP-LISTEN:${PROXY_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${EGRESS_DIR_INSIDE}/${EGRESS_SOCKET} </dev/null >/dev/null 2>&1 &`,
        `  for _ in $(seq 300); do ${listening} && break; sleep 0.01; done`,
        'fi',
        '',
      ].join('\n');
    }
    const wrapper = `${bridge}printf %s "$$" > '${pidFile}'; exec timeout -s KILL ${timeoutS} sh -c "$0" nightshift "$@"`;
    const release = this.egress ? await this.proxies.acquire(this.egress.socketPath, this.egress.allow) : undefined;
    try {
      const e = await this.engine(() =>
        this.c.exec({
          Cmd: ['sh', '-c', wrapper, script, ...args],
          AttachStdin: o.stdin !== undefined,
          AttachStdout: true,
          AttachStderr: true,
          WorkingDir: this.abs(o.cwd ?? '.'),
          Env: Object.entries(o.envs ?? {}).map(([k, v]) => `${k}=${v}`),
        }),
      );
      const started = Date.now();
      const stream = (await this.engine(() => e.start({ hijack: true, stdin: o.stdin !== undefined }))) as Duplex;
      const out = new PassThrough().on('data', (d: Buffer) => o.sink('stdout', d));
      const err = new PassThrough().on('data', (d: Buffer) => o.sink('stderr', d));
      this.c.modem.demuxStream(stream, out, err);
      let killing: Promise<void> | undefined;
      const killGroup = () => {
        killing ??= this.killGroup(pidFile);
        stream.destroy();
      };
      // The in-container timeout is the command's own; this one is the worker's, in case
      // the command killed its `timeout` or the engine stopped answering.
      const deadline = setTimeout(killGroup, timeoutMs + 15_000);
      o.signal?.addEventListener('abort', killGroup, { once: true });
      if (o.stdin !== undefined) stream.end(Buffer.from(o.stdin));
      try {
        await new Promise<void>((resolve) =>
          stream
            .on('end', resolve)
            .on('close', resolve)
            .on('error', () => resolve()),
        );
      } finally {
        clearTimeout(deadline);
        o.signal?.removeEventListener('abort', killGroup);
      }
      const { ExitCode, Running } = await this.engine(() => e.inspect());
      const exitCode = Running ? 137 : (ExitCode ?? 1);
      // 137 from `timeout -s KILL` once its time is up; a command that kills itself earlier,
      // or one aborted by the caller, did not time out.
      const timedOut = !o.signal?.aborted && exitCode === 137 && Date.now() - started >= timeoutS * 1000 - 500;
      // Killed: the group is gone once this returns. Otherwise only the id file is left.
      if (killing) await killing;
      else void this.discard(pidFile);
      return { exitCode, timedOut };
    } finally {
      await release?.();
    }
  }

  private async killGroup(pidFile: string): Promise<void> {
    try {
      const e = await this.c.exec({
        Cmd: ['sh', '-c', `pgid=$(cat '${pidFile}' 2>/dev/null) && kill -s KILL -- "-$pgid"; rm -f '${pidFile}'`],
        AttachStdout: true,
        AttachStderr: true,
      });
      const stream = await e.start({ hijack: true, stdin: false });
      stream.resume();
      await new Promise<void>((resolve) =>
        stream
          .on('end', resolve)
          .on('close', resolve)
          .on('error', () => resolve()),
      );
    } catch {
      // The container may be gone already: nothing left to kill.
    }
  }

  private async discard(pidFile: string): Promise<void> {
    try {
      const e = await this.c.exec({ Cmd: ['rm', '-f', pidFile] });
      await e.start({ Detach: true });
    } catch {
      // A leftover file in the container's /tmp is harmless.
    }
  }

  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    const max = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedOutput(max, o.onOutput);
    const stderr = new CappedOutput(max, o.onOutput);
    const { exitCode, timedOut } = await this.run(cmd, [], {
      ...o,
      sink: (s, d) => (s === 'stdout' ? stdout : stderr).push(d),
    });
    return { exitCode, stdout: stdout.text(), stderr: stderr.text(), timedOut };
  }

  /** Refuses what is not a regular file (EFTYPE), or is larger than `maxBytes` (EFBIG), before reading it. */
  async readFile(p: string, o: { maxBytes?: number } = {}): Promise<Uint8Array> {
    const max = o.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    const script = [
      'f=$1',
      '[ -e "$f" ] || [ -L "$f" ] || exit 3',
      '[ -d "$f" ] && exit 4',
      '[ -f "$f" ] && [ ! -L "$f" ] || exit 5',
      '[ "$(stat -c %s -- "$f")" -le "$2" ] || exit 6',
      // The size may grow after the check: never more than promised.
      'exec head -c "$2" -- "$f"',
    ].join('\n');
    const chunks: Buffer[] = [];
    let got = 0;
    const stderr = new CappedOutput(4096);
    const r = await this.run(script, [this.abs(p), String(max)], {
      sink: (s, d) => {
        if (s === 'stderr') return stderr.push(d);
        if (got + d.length > max) d = d.subarray(0, Math.max(0, max - got));
        got += d.length;
        chunks.push(d);
      },
    });
    const codes: Record<number, [string, string]> = {
      3: ['ENOENT', `${p} does not exist`],
      4: ['EISDIR', `${p} is a directory`],
      5: ['EFTYPE', `${p} is not a regular file`],
      6: ['EFBIG', `${p} is more than the ${max} bytes that may be read`],
    };
    const known = codes[r.exitCode];
    if (known) throw Object.assign(new Error(known[1]), { code: known[0] });
    if (r.exitCode !== 0) throw new Error(`readFile ${p}: exit ${r.exitCode}: ${stderr.text().trim()}`);
    return new Uint8Array(Buffer.concat(chunks));
  }

  /** The content travels on the command's stdin, so its size is not bounded by argument limits. */
  async writeFile(p: string, data: string | Uint8Array): Promise<void> {
    const stderr = new CappedOutput(4096);
    const r = await this.run('mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', [this.abs(p)], {
      stdin: typeof data === 'string' ? Buffer.from(data) : data,
      sink: (s, d) => s === 'stderr' && stderr.push(d),
    });
    if (r.exitCode !== 0) throw new Error(`writeFile ${p}: exit ${r.exitCode}: ${stderr.text().trim()}`);
  }

  async list(p: string, o: { depth?: number; maxEntries?: number } = {}): Promise<FileEntry[]> {
    const root = this.workdir;
    const limit = o.maxEntries === undefined ? '' : ' | head -n "$3"';
    const out = new CappedOutput(64 * MIB);
    const stderr = new CappedOutput(4096);
    const r = await this.run(
      `find "$1" -mindepth 1 -maxdepth "$2" \\( -type f -o -type d -o -type l \\) -printf '%y %s %p\\n'${limit}`,
      [this.abs(p), String(Math.floor(o.depth ?? 1)), String(Math.floor(o.maxEntries ?? 0))],
      {
        sink: (s, d) => (s === 'stdout' ? out : stderr).push(d),
      },
    );
    if (r.exitCode !== 0) throw new Error(`list ${p}: ${stderr.text().trim()}`);
    const entries: FileEntry[] = [];
    for (const line of out.text().split('\n')) {
      const m = /^(\S) (\d+) (.*)$/.exec(line);
      if (!m || !['f', 'd', 'l'].includes(m[1])) continue;
      entries.push({
        path: path.posix.relative(root, m[3]),
        type: m[1] === 'd' ? 'dir' : 'file',
        size: Number(m[2]),
        ...(m[1] === 'l' ? { symlink: true } : {}),
      });
    }
    return entries;
  }

  /** Removes the container and its workspace volume: a killed sandbox leaves no disk behind. */
  async kill(): Promise<boolean> {
    let removed = true;
    try {
      await this.engine(() => this.c.remove({ force: true }));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      removed = false;
    }
    if (this.volume !== undefined) {
      await this.engine(() => this.docker.getVolume(this.volume as string).remove()).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      });
    }
    if (this.egress) await fs.promises.rm(path.dirname(this.egress.socketPath), { recursive: true, force: true });
    return removed;
  }
}
