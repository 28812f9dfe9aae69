/**
 * The E2B-style sandbox contract every provider implements (see design.md, "Sandboxes").
 * Workflows store only `Sandbox.id`; every activity reconnects by id, so a sandbox outlives
 * the worker process that created it.
 */

export type NetworkPolicy = 'none' | { allow: string[] };

export const SANDBOX_PROVIDERS = ['local', 'e2b', 'docker'] as const;
export type SandboxProviderName = (typeof SANDBOX_PROVIDERS)[number];

/**
 * A task's sandbox as the task file asks for it (taskfile/ fills it from the batch's and the
 * task's `sandbox:`, sandbox/settings.ts turns it into a provider's create request). It
 * travels in workflow histories, so a field added here stays optional.
 */
export interface SandboxSettings {
  provider: SandboxProviderName;
  /** E2B template or Docker image. */
  template?: string;
  /** Hosts the sandbox may reach; empty means no network. */
  networkAllow: string[];
  /** Names of worker environment variables copied into the sandbox. Secrets are refused. */
  envAllow: string[];
  /** Resource bounds, field by field the task's over the batch's; absent fields take the provider's defaults. */
  limits?: SandboxLimits;
}

/** Sandbox lifetime (e2b) and the default per-command timeout. */
export const SANDBOX_TIMEOUT_MS = 60 * 60_000;

/** Resource bounds of one sandbox; every field falls back to DEFAULT_SANDBOX_LIMITS. */
export interface SandboxLimits {
  /** Memory of all the sandbox's processes together (RAM, page cache, tmpfs); an OOM kills the command. */
  memoryMb?: number;
  /** CPU time per period, in CPUs (1.5 = one and a half cores). */
  cpus?: number;
  /** Size of the sandbox's disk (workspace, HOME and TMPDIR together); writes past it get ENOSPC. */
  diskMb?: number;
  /** Open file descriptors per process (`ulimit -n`). */
  openFiles?: number;
  /** Processes and threads of the sandbox at once. */
  processes?: number;
}

/**
 * Disk size of a worker's local sandboxes that name none, where size-capped volumes work
 * (root, loop devices, mkfs.ext4); elsewhere the worker warns and they run unbounded.
 */
export const DEFAULT_DISK_MB = 10240;

/** Defaults of the other bounds every local sandbox gets. */
export const DEFAULT_SANDBOX_LIMITS: Required<Omit<SandboxLimits, 'diskMb'>> = {
  memoryMb: 4096,
  cpus: 1,
  openFiles: 4096,
  processes: 512,
};

export interface CreateSandboxOptions {
  /** Idempotency key (the task's workflow ID): a second create with the same key returns the same sandbox. */
  key: string;
  /** Provider-specific template or image name. */
  template?: string;
  /** Labels a provider shows its users (E2B metadata: the workflow and task IDs); never secrets. */
  metadata?: Record<string, string>;
  /** Lifetime after which the provider may reclaim the sandbox. */
  timeoutMs?: number;
  /** The sandbox's whole environment: an explicit allowlist, never the worker's env. */
  envs?: Record<string, string>;
  /** @default 'none' */
  network?: NetworkPolicy;
  /** @default DEFAULT_SANDBOX_LIMITS (the local provider enforces them; see docs/sandboxes.md) */
  limits?: SandboxLimits;
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
  /** The workspace's absolute path as the sandbox's own commands name it: where they start and relative paths resolve. */
  readonly workdir: string;
  exec(cmd: string, o?: ExecOptions): Promise<ExecResult>;
  /**
   * A file larger than `maxBytes` (local provider default: 64 MiB) is refused with code
   * EFBIG; a FIFO, socket or device with code EFTYPE. Providers whose files live on
   * another machine may read first.
   */
  readFile(path: string, o?: { maxBytes?: number }): Promise<Uint8Array>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  /** At most `maxEntries` entries (default: all), so a workspace of millions of files cannot exhaust the worker. */
  list(path: string, o?: { depth?: number; maxEntries?: number }): Promise<FileEntry[]>;
  /** @returns false if the sandbox was already gone. */
  kill(): Promise<boolean>;
}

export interface SandboxProvider {
  /** Idempotent by `key`. */
  create(o: CreateSandboxOptions): Promise<Sandbox>;
  /** Throws `SandboxGone` (non-retryable) when the sandbox no longer exists. */
  connect(id: string): Promise<Sandbox>;
  /**
   * Kills the sandbox created with `key`, if there is one, without making one first.
   * Optional: the router falls back to create-then-kill for providers without it.
   * @returns false if there was none.
   */
  discard?(key: string): Promise<boolean>;
}
