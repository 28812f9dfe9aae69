/**
 * The `e2b` provider: one E2B sandbox per task, found again by the metadata key
 * `nightshiftKey` so that a retried create (same workflow ID) reuses it.
 */
import * as path from 'node:path';
import { ALL_TRAFFIC, CommandExitError, NotFoundError, Sandbox as E2BSandbox, TimeoutError, type ConnectionOpts } from 'e2b';
import { SandboxGone } from '../common/errors';
import { CappedOutput, DEFAULT_MAX_OUTPUT_BYTES } from './output';
import type { CreateSandboxOptions, ExecOptions, ExecResult, FileEntry, Sandbox, SandboxProvider } from './types';

/** The metadata key that makes create idempotent. */
export const E2B_KEY_METADATA = 'nightshiftKey';

export interface E2BProviderOptions {
  apiKey: string;
  /** Control-plane URL. @default E2B_API_URL, else the SDK's default for `domain` */
  apiUrl?: string;
  /** @default E2B_DOMAIN, else the SDK's default */
  domain?: string;
  /** Template when create names none. @default 'base' */
  template?: string;
  /** Sandbox lifetime when create names none. @default 1 hour */
  timeoutMs?: number;
  /** Where relative paths resolve inside the sandbox. @default '/home/user/workspace' */
  workdir?: string;
  /** @default 1 MiB per stream */
  maxOutputBytes?: number;
  /** Timeout of a command that names none. @default 30 minutes */
  defaultExecTimeoutMs?: number;
}

export function createE2BProvider(options: E2BProviderOptions): SandboxProvider {
  const conn: ConnectionOpts = { apiKey: options.apiKey, apiUrl: options.apiUrl, domain: options.domain };
  const findByKey = async (key: string) => {
    const found = [];
    const pages = E2BSandbox.list({ ...conn, query: { metadata: { [E2B_KEY_METADATA]: key }, state: ['running', 'paused'] } });
    while (pages.hasNext) found.push(...(await pages.nextItems()));
    // Oldest first, so racing creators agree on the same winner.
    return found.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.sandboxId.localeCompare(b.sandboxId));
  };
  const connect = async (id: string): Promise<Sandbox> => {
    try {
      return new E2BBackedSandbox(await E2BSandbox.connect(id, conn), options);
    } catch (err) {
      if (err instanceof NotFoundError) throw new SandboxGone(`e2b sandbox ${id} is gone: ${err.message}`);
      throw err;
    }
  };
  return {
    async create(o: CreateSandboxOptions): Promise<Sandbox> {
      const existing = await findByKey(o.key);
      if (existing.length > 0) return connect(existing[0].sandboxId);
      const network = o.network ?? 'none';
      const created = await E2BSandbox.create(o.template ?? options.template ?? 'base', {
        ...conn,
        metadata: { [E2B_KEY_METADATA]: o.key },
        timeoutMs: o.timeoutMs ?? options.timeoutMs ?? 60 * 60_000,
        envs: o.envs ?? {},
        ...(network === 'none' ? { allowInternetAccess: false } : { network: { allowOut: network.allow, denyOut: [ALL_TRAFFIC] } }),
      });
      // Two creators may both have found nothing: the older sandbox wins, the other goes.
      const all = await findByKey(o.key);
      if (all.length > 1 && all[0].sandboxId !== created.sandboxId) {
        await E2BSandbox.kill(created.sandboxId, conn);
        return connect(all[0].sandboxId);
      }
      return new E2BBackedSandbox(created, options);
    },
    connect,
  };
}

class E2BBackedSandbox implements Sandbox {
  readonly id: string;
  private readonly workdir: string;

  constructor(
    private readonly sbx: E2BSandbox,
    private readonly options: E2BProviderOptions,
  ) {
    this.id = sbx.sandboxId;
    this.workdir = options.workdir ?? '/home/user/workspace';
  }

  private abs(p: string): string {
    return path.posix.resolve(this.workdir, p);
  }

  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    const max = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedOutput(max, o.onOutput);
    const stderr = new CappedOutput(max, o.onOutput);
    const timeoutMs = o.timeoutMs ?? this.options.defaultExecTimeoutMs ?? 30 * 60_000;
    const result = (exitCode: number, timedOut: boolean): ExecResult => ({ exitCode, stdout: stdout.text(), stderr: stderr.text(), timedOut });
    try {
      const r = await this.sbx.commands.run(cmd, {
        cwd: this.abs(o.cwd ?? '.'),
        envs: o.envs,
        timeoutMs,
        onStdout: (d) => stdout.push(Buffer.from(d)),
        onStderr: (d) => stderr.push(Buffer.from(d)),
        signal: o.signal,
      } as Parameters<E2BSandbox['commands']['run']>[1]);
      return result(r.exitCode ?? 0, false);
    } catch (err) {
      if (err instanceof CommandExitError) return result(err.exitCode ?? 1, false);
      if (err instanceof TimeoutError) return result(124, true);
      if (err instanceof NotFoundError) throw new SandboxGone(`e2b sandbox ${this.id} is gone: ${err.message}`);
      throw err;
    }
  }

  async readFile(p: string): Promise<Uint8Array> {
    return this.sbx.files.read(this.abs(p), { format: 'bytes' });
  }

  async writeFile(p: string, data: string | Uint8Array): Promise<void> {
    const body = typeof data === 'string' ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    await this.sbx.files.write(this.abs(p), body as string | ArrayBuffer);
  }

  async list(p: string, o: { depth?: number; maxEntries?: number } = {}): Promise<FileEntry[]> {
    const entries = await this.sbx.files.list(this.abs(p), { depth: o.depth ?? 1 });
    return entries.slice(0, o.maxEntries).map((e) => ({
      path: path.posix.relative(this.workdir, e.path),
      type: e.type === 'dir' ? 'dir' : 'file',
      size: e.size,
    }));
  }

  async kill(): Promise<boolean> {
    // The SDK's type omits apiUrl here, but its connection config reads it.
    const conn = { apiKey: this.options.apiKey, apiUrl: this.options.apiUrl, domain: this.options.domain };
    return E2BSandbox.kill(this.id, conn as Parameters<typeof E2BSandbox.kill>[1]);
  }
}
