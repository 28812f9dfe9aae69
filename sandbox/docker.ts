/**
 * The `docker` provider: one container per task, found again by the label
 * `nightshift.key`, with the workspace on a named volume and no network by default.
 */
import Docker from 'dockerode';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { SandboxGone } from '../common/errors';
import { CappedOutput, DEFAULT_MAX_OUTPUT_BYTES } from './output';
import type { CreateSandboxOptions, ExecOptions, ExecResult, FileEntry, Sandbox, SandboxProvider } from './types';

export const DOCKER_KEY_LABEL = 'nightshift.key';

export interface DockerProviderOptions {
  /** Image when create names no template. @default 'node:20-bookworm' */
  image?: string;
  /** Engine connection (socketPath or host/port). @default DOCKER_HOST or the local socket */
  docker?: Docker.DockerOptions;
  /** Where the workspace volume is mounted. @default '/workspace' */
  workdir?: string;
  /** @default 1 MiB per stream */
  maxOutputBytes?: number;
  /** @default 512 */
  pidsLimit?: number;
}

/** The engine could not be reached; says where it looked. */
export class DockerUnavailable extends Error {
  constructor(where: string, cause: unknown) {
    super(`docker engine unreachable at ${where}: ${cause instanceof Error ? cause.message : String(cause)} (is Docker running, and is the socket readable by the worker?)`);
    this.name = 'DockerUnavailable';
  }
}

export function createDockerProvider(options: DockerProviderOptions = {}): SandboxProvider {
  const docker = new Docker(options.docker);
  const where = options.docker?.socketPath ?? options.docker?.host ?? process.env.DOCKER_HOST ?? '/var/run/docker.sock';
  const engine = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'EHOSTUNREACH') throw new DockerUnavailable(where, err);
      throw err;
    }
  };
  const wrap = (c: Docker.Container) => new DockerSandbox(c, options, engine);
  return {
    async create(o: CreateSandboxOptions): Promise<Sandbox> {
      const found = await engine(() => docker.listContainers({ all: true, filters: { label: [`${DOCKER_KEY_LABEL}=${o.key}`] } }));
      if (found.length > 0) {
        const c = docker.getContainer(found[0].Id);
        if (found[0].State !== 'running') await engine(() => c.start());
        return wrap(c);
      }
      const network = o.network ?? 'none';
      if (network !== 'none' && network.allow.length > 0) {
        // Docker has no per-host egress filter; a bridge network would allow every host.
        throw new Error('the docker provider supports network "none" only; use local or e2b for an allowlist');
      }
      const workdir = options.workdir ?? '/workspace';
      const c = await engine(() =>
        docker.createContainer({
          Image: o.template ?? options.image ?? 'node:20-bookworm',
          Cmd: ['sleep', 'infinity'],
          Labels: { [DOCKER_KEY_LABEL]: o.key },
          Env: Object.entries(o.envs ?? {}).map(([k, v]) => `${k}=${v}`),
          WorkingDir: workdir,
          HostConfig: {
            NetworkMode: 'none',
            Mounts: [{ Type: 'volume', Source: `nightshift-${o.key.replace(/[^a-zA-Z0-9_.-]+/g, '-')}`, Target: workdir }],
            PidsLimit: options.pidsLimit ?? 512,
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
          },
        }),
      );
      await engine(() => c.start());
      return wrap(c);
    },
    async connect(id: string): Promise<Sandbox> {
      const c = docker.getContainer(id);
      try {
        const info = await engine(() => c.inspect());
        if (!info.State.Running) throw new SandboxGone(`docker sandbox ${id} is not running`);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) throw new SandboxGone(`docker sandbox ${id} is gone`);
        throw err;
      }
      return wrap(c);
    },
  };
}

class DockerSandbox implements Sandbox {
  readonly id: string;
  constructor(
    private readonly c: Docker.Container,
    private readonly options: DockerProviderOptions,
    private readonly engine: <T>(f: () => Promise<T>) => Promise<T>,
  ) {
    this.id = c.id;
  }

  private abs(p: string): string {
    return path.posix.resolve(this.options.workdir ?? '/workspace', p);
  }

  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    const timeoutS = Math.max(1, Math.ceil((o.timeoutMs ?? 30 * 60_000) / 1000));
    // `timeout` inside the container kills the command's process group: docker exec
    // has no kill of its own.
    const e = await this.engine(() =>
      this.c.exec({
        Cmd: ['timeout', '-s', 'KILL', String(timeoutS), 'sh', '-c', cmd],
        AttachStdout: true,
        AttachStderr: true,
        WorkingDir: this.abs(o.cwd ?? '.'),
        Env: Object.entries(o.envs ?? {}).map(([k, v]) => `${k}=${v}`),
      }),
    );
    const max = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedOutput(max, o.onOutput);
    const stderr = new CappedOutput(max, o.onOutput);
    const stream = await this.engine(() => e.start({ hijack: true, stdin: false }));
    const out = new PassThrough().on('data', (d: Buffer) => stdout.push(d));
    const err = new PassThrough().on('data', (d: Buffer) => stderr.push(d));
    this.c.modem.demuxStream(stream, out, err);
    o.signal?.addEventListener('abort', () => stream.destroy(), { once: true });
    await new Promise<void>((resolve) => stream.on('end', resolve).on('close', resolve).on('error', () => resolve()));
    const { ExitCode } = await this.engine(() => e.inspect());
    const exitCode = ExitCode ?? 1;
    return { exitCode, stdout: stdout.text(), stderr: stderr.text(), timedOut: exitCode === 137 };
  }

  async readFile(p: string): Promise<Uint8Array> {
    const r = await this.exec(`base64 < '${this.abs(p).replace(/'/g, `'\\''`)}'`);
    if (r.exitCode !== 0) throw new Error(`readFile ${p}: ${r.stderr.trim()}`);
    return new Uint8Array(Buffer.from(r.stdout, 'base64'));
  }

  async writeFile(p: string, data: string | Uint8Array): Promise<void> {
    const target = this.abs(p).replace(/'/g, `'\\''`);
    const b64 = Buffer.from(data).toString('base64');
    const r = await this.exec(`mkdir -p "$(dirname '${target}')" && echo '${b64}' | base64 -d > '${target}'`);
    if (r.exitCode !== 0) throw new Error(`writeFile ${p}: ${r.stderr.trim()}`);
  }

  async list(p: string, o: { depth?: number; maxEntries?: number } = {}): Promise<FileEntry[]> {
    const root = this.options.workdir ?? '/workspace';
    const head = o.maxEntries === undefined ? '' : ` | head -n ${Math.floor(o.maxEntries)}`;
    const r = await this.exec(`find '${this.abs(p)}' -mindepth 1 -maxdepth ${o.depth ?? 1} -printf '%y %s %p\\n'${head}`);
    if (r.exitCode !== 0) throw new Error(`list ${p}: ${r.stderr.trim()}`);
    return r.stdout.split('\n').filter(Boolean).map((line) => {
      const [t, size, ...rest] = line.split(' ');
      return { path: path.posix.relative(root, rest.join(' ')), type: t === 'd' ? 'dir' : 'file', size: Number(size) };
    });
  }

  async kill(): Promise<boolean> {
    try {
      await this.engine(() => this.c.remove({ force: true }));
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw err;
    }
  }
}
