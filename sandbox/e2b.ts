/**
 * The `e2b` provider: one E2B sandbox per task, found again by the metadata key
 * `nightshiftKey` so that a retried create (same workflow ID) reuses it. Sandboxes pause
 * when their timeout passes (a worker that died does not lose the work) and a connect
 * resumes them; the workflow kills them at the end of the task.
 */
import * as path from 'node:path';
import {
  ALL_TRAFFIC,
  CommandExitError,
  FileNotFoundError,
  type CommandHandle,
  NotFoundError,
  Sandbox as E2BSandbox,
  TimeoutError,
  type ConnectionOpts,
} from 'e2b';
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
  /** envd's URL for every sandbox (a self-hosted edge, or a test's fake). @default E2B_SANDBOX_URL, else per sandbox under `domain` */
  sandboxUrl?: string;
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
  const conn: ConnectionOpts = connectionOf(options);
  const lifetimeMs = (o?: number) => o ?? options.timeoutMs ?? 60 * 60_000;
  const findByKey = async (key: string) => {
    const found = [];
    const pages = E2BSandbox.list({
      ...conn,
      query: { metadata: { [E2B_KEY_METADATA]: key }, state: ['running', 'paused'] },
    });
    while (pages.hasNext) found.push(...(await pages.nextItems()));
    // Oldest first, so racing creators agree on the same winner.
    return found.sort(
      (a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.sandboxId.localeCompare(b.sandboxId),
    );
  };
  const connect = async (id: string): Promise<Sandbox> => {
    try {
      // Resumes a paused sandbox, and gives it a full lifetime again from now.
      return new E2BBackedSandbox(await E2BSandbox.connect(id, { ...conn, timeoutMs: lifetimeMs() }), options);
    } catch (err) {
      if (err instanceof NotFoundError) throw new SandboxGone(`e2b sandbox ${id} is gone: ${err.message}`);
      throw err;
    }
  };
  return {
    async create(o: CreateSandboxOptions): Promise<Sandbox> {
      const workdir = options.workdir ?? DEFAULT_WORKDIR;
      // Also for a sandbox found by its key: the create that made it may have died before this.
      const withWorkdir = async (sbx: E2BSandbox) => {
        const made = await sbx.commands
          .run(`mkdir -p '${path.posix.basename(workdir).replace(/'/g, `'\\''`)}'`, {
            cwd: path.posix.dirname(workdir),
          })
          .catch((err: Error) => err);
        if (made instanceof Error)
          throw new Error(`e2b sandbox ${sbx.sandboxId}: making its workspace ${workdir} failed: ${made.message}`);
        return new E2BBackedSandbox(sbx, options);
      };
      const resume = async (id: string) => {
        try {
          return await withWorkdir(await E2BSandbox.connect(id, { ...conn, timeoutMs: lifetimeMs() }));
        } catch (err) {
          if (err instanceof NotFoundError) throw new SandboxGone(`e2b sandbox ${id} is gone: ${err.message}`);
          throw err;
        }
      };
      const existing = await findByKey(o.key);
      if (existing.length > 0) return resume(existing[0].sandboxId);
      const network = o.network ?? 'none';
      const created = await E2BSandbox.create(o.template ?? options.template ?? 'base', {
        ...conn,
        metadata: { ...o.metadata, [E2B_KEY_METADATA]: o.key },
        timeoutMs: lifetimeMs(o.timeoutMs),
        // A worker that dies leaves the sandbox paused, not deleted; only an explicit connect wakes it.
        lifecycle: { onTimeout: 'pause', autoResume: false },
        envs: o.envs ?? {},
        ...(network === 'none'
          ? { allowInternetAccess: false }
          : { network: { allowOut: network.allow, denyOut: [ALL_TRAFFIC] } }),
      });
      // Two creators may both have found nothing: the older sandbox wins, the other goes.
      const all = await findByKey(o.key);
      if (all.length > 1 && all[0].sandboxId !== created.sandboxId) {
        await E2BSandbox.kill(created.sandboxId, conn);
        return resume(all[0].sandboxId);
      }
      return withWorkdir(created);
    },
    connect,
  };
}

const DEFAULT_WORKDIR = '/home/user/workspace';

/** What a cancelled exec rejects with, as the local provider does: the signal's reason, else an AbortError. */
function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : Object.assign(new Error('exec aborted'), { name: 'AbortError' });
}

function connectionOf(o: E2BProviderOptions): ConnectionOpts {
  // sandboxUrl is in the SDK's connection config, though its public type leaves it out.
  return {
    apiKey: o.apiKey,
    apiUrl: o.apiUrl,
    domain: o.domain,
    ...(o.sandboxUrl ? { sandboxUrl: o.sandboxUrl } : {}),
  } as ConnectionOpts;
}

class E2BBackedSandbox implements Sandbox {
  readonly id: string;
  readonly workdir: string;

  constructor(
    private readonly sbx: E2BSandbox,
    private readonly options: E2BProviderOptions,
  ) {
    this.id = sbx.sandboxId;
    this.workdir = options.workdir ?? DEFAULT_WORKDIR;
  }

  private abs(p: string): string {
    return path.posix.resolve(this.workdir, p);
  }

  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    const max = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedOutput(max, o.onOutput);
    const stderr = new CappedOutput(max, o.onOutput);
    const timeoutMs = o.timeoutMs ?? this.options.defaultExecTimeoutMs ?? 30 * 60_000;
    const result = (exitCode: number, timedOut: boolean): ExecResult => ({
      exitCode,
      stdout: stdout.text(),
      stderr: stderr.text(),
      timedOut,
    });
    let handle: CommandHandle | undefined;
    try {
      // Started in the background for its handle: a command past its timeout or cancelled is
      // killed by pid, not only abandoned when its stream is dropped.
      handle = await this.sbx.commands.run(cmd, {
        background: true,
        cwd: this.abs(o.cwd ?? '.'),
        envs: o.envs,
        timeoutMs,
        onStdout: (d: string) => stdout.push(Buffer.from(d)),
        onStderr: (d: string) => stderr.push(Buffer.from(d)),
        signal: o.signal,
      });
      const r = await handle.wait();
      if (o.signal?.aborted) throw abortError(o.signal);
      return result(r.exitCode ?? 0, false);
    } catch (err) {
      // Cancelled: whatever the stream said after the abort, the caller asked for no result.
      if (o.signal?.aborted) {
        await handle?.kill().catch(() => false);
        throw abortError(o.signal);
      }
      if (err instanceof CommandExitError) return result(err.exitCode ?? 1, false);
      // The SDK says "timeout" both for a command that ran too long and for a sandbox that is no more.
      if (err instanceof TimeoutError) {
        await this.assertRunning(err);
        await handle?.kill().catch(() => false);
        return result(124, true);
      }
      throw await this.goneOr(err as Error);
    }
  }

  async readFile(p: string, o: { maxBytes?: number } = {}): Promise<Uint8Array> {
    const data = await this.sbx.files
      .read(this.abs(p), { format: 'bytes' })
      .catch(async (err: Error) => Promise.reject(await this.goneOr(err)));
    // envd has no size limit on a read, so the cap is checked after it.
    if (o.maxBytes !== undefined && data.byteLength > o.maxBytes)
      throw Object.assign(new Error(`${p} is ${data.byteLength} bytes, more than the ${o.maxBytes} that may be read`), {
        code: 'EFBIG',
      });
    return data;
  }

  async writeFile(p: string, data: string | Uint8Array): Promise<void> {
    const body =
      typeof data === 'string' ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    // An octet stream, not a multipart form: no copy of the data into a form, no boundary to scan for.
    await this.sbx.files
      .write(this.abs(p), body as string | ArrayBuffer, { useOctetStream: true })
      .catch(async (err: Error) => Promise.reject(await this.goneOr(err)));
  }

  async list(p: string, o: { depth?: number; maxEntries?: number } = {}): Promise<FileEntry[]> {
    const entries = await this.sbx.files
      .list(this.abs(p), { depth: o.depth ?? 1 })
      .catch(async (err: Error) => Promise.reject(await this.goneOr(err)));
    return entries.slice(0, o.maxEntries).map((e) => ({
      path: path.posix.relative(this.workdir, e.path),
      type: e.type === 'dir' ? 'dir' : 'file',
      size: e.size,
      ...(e.type === 'symlink' ? { symlink: true } : {}),
    }));
  }

  async kill(): Promise<boolean> {
    return E2BSandbox.kill(this.id, connectionOf(this.options) as Parameters<typeof E2BSandbox.kill>[1]);
  }

  /**
   * The sandbox's state from the control plane: `gone` when it no longer exists, `paused`
   * when its timeout passed (a retried activity's connect resumes it).
   */
  private async state(): Promise<'running' | 'paused' | 'gone' | 'unknown'> {
    try {
      return (await E2BSandbox.getInfo(this.id, connectionOf(this.options))).state;
    } catch (err) {
      return err instanceof NotFoundError ? 'gone' : 'unknown';
    }
  }

  private async assertRunning(cause: Error): Promise<void> {
    const state = await this.state();
    if (state === 'gone') throw new SandboxGone(`e2b sandbox ${this.id} is gone: ${cause.message}`);
    if (state === 'paused')
      throw new Error(`e2b sandbox ${this.id} was paused (its timeout passed) while in use; a retry resumes it`);
  }

  /** SandboxGone when the control plane no longer knows the sandbox, a retryable error when it paused; a missing file stays an ENOENT. */
  private async goneOr(err: Error): Promise<Error> {
    if (err instanceof FileNotFoundError) return Object.assign(err, { code: 'ENOENT' });
    if (!(err instanceof TimeoutError || err instanceof NotFoundError)) return err;
    return this.assertRunning(err).then(
      () => err,
      (stateErr: Error) => stateErr,
    );
  }
}
