/**
 * The E2B-style sandbox contract every provider implements (see design.md, "Sandboxes").
 * Workflows store only `Sandbox.id`; every activity reconnects by id, so a sandbox outlives
 * the worker process that created it.
 */

export type NetworkPolicy = 'none' | { allow: string[] };

export interface CreateSandboxOptions {
  /** Idempotency key (the task's workflow ID): a second create with the same key returns the same sandbox. */
  key: string;
  /** Provider-specific template or image name. */
  template?: string;
  /** Lifetime after which the provider may reclaim the sandbox. */
  timeoutMs?: number;
  /** The sandbox's whole environment: an explicit allowlist, never the worker's env. */
  envs?: Record<string, string>;
  /** @default 'none' */
  network?: NetworkPolicy;
}

export interface ExecOptions {
  /** Relative paths resolve against the workspace root. */
  cwd?: string;
  envs?: Record<string, string>;
  /** The command and its whole process tree are killed after this long. */
  timeoutMs?: number;
  /** Streams output as it arrives (used for activity heartbeats). */
  onOutput?: (chunk: string) => void;
  signal?: AbortSignal;
}

export interface ExecResult {
  /** A non-zero exit code is data, not an error. */
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface FileEntry {
  path: string;
  type: 'file' | 'dir';
  size: number;
  /** A symbolic link (`size` is the link's own); readers that must not follow links skip it. */
  symlink?: boolean;
}

export interface Sandbox {
  readonly id: string;
  exec(cmd: string, o?: ExecOptions): Promise<ExecResult>;
  /**
   * A file larger than `maxBytes` (local provider default: 64 MiB) is refused with code
   * EFBIG; a FIFO, socket or device with code EFTYPE. Providers whose files live on
   * another machine may read first.
   */
  readFile(path: string, o?: { maxBytes?: number }): Promise<Uint8Array>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  list(path: string, o?: { depth?: number }): Promise<FileEntry[]>;
  /** @returns false if the sandbox was already gone. */
  kill(): Promise<boolean>;
}

export interface SandboxProvider {
  /** Idempotent by `key`. */
  create(o: CreateSandboxOptions): Promise<Sandbox>;
  /** Throws `SandboxGone` (non-retryable) when the sandbox no longer exists. */
  connect(id: string): Promise<Sandbox>;
}
