/**
 * The workspace operations of sandbox/workspace.ts for a sandbox whose files the worker
 * cannot reach on its own disk (e2b, docker): everything goes through `exec`, `readFile`
 * and `writeFile`. The worker clones or fetches on the host, with its own credentials and
 * its pinned git, and sends the objects in as a git bundle; the sandbox's git takes them
 * from the bundle. Checkpoints leave the same way, as bundles, into the worker's checkpoint
 * store. No credential and no URL holding one ever enters the sandbox.
 *
 * The sandbox's git reads no configuration the agent could have planted in its HOME or
 * TMPDIR (SANDBOX_GIT_ENV), and the host's git only fetches from the bundles that come
 * out: it never runs over the sandbox's files.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Sandbox } from './types';

/** Bundles cross the sandbox boundary in pieces of at most this size, so neither side holds a whole repository in memory. */
export const TRANSFER_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * A commit id as the sandbox printed it, or undefined: the sandbox's output is the agent's
 * to shape, and the worker's git must never take it as an option or a revision expression.
 */
export function objectIdOf(printed: string): string | undefined {
  const id = printed.trim();
  return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(id) ? id : undefined;
}

/** Shell-quotes one word. */
export const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Git's environment in the sandbox: configuration only from the repository at hand and
 * these pinned values (HOME and XDG_CONFIG_HOME name a directory that does not exist, so
 * nothing the agent wrote in its home is read), no hooks, filters' helpers or prompts.
 */
export function sandboxGitEnv(): Record<string, string> {
  const config: [string, string][] = [
    ['safe.directory', '*'],
    ['core.hooksPath', '/dev/null'],
    ['core.fsmonitor', 'false'],
    ['core.attributesFile', '/dev/null'],
    ['core.excludesFile', '/dev/null'],
    ['credential.helper', ''],
    ['commit.gpgSign', 'false'],
    ['protocol.allow', 'never'],
    ['protocol.file.allow', 'always'],
    ['gc.auto', '0'],
  ];
  return {
    HOME: '/nonexistent',
    XDG_CONFIG_HOME: '/nonexistent',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: String(config.length),
    ...Object.fromEntries(
      config.flatMap(([k, v], n) => [
        [`GIT_CONFIG_KEY_${n}`, k],
        [`GIT_CONFIG_VALUE_${n}`, v],
      ]),
    ),
  };
}

/** Runs a script in the workspace with the pinned git environment; a non-zero exit is an error carrying its output. */
export async function runInSandbox(
  sandbox: Sandbox,
  script: string,
  what: string,
  o: { timeoutMs?: number; envs?: Record<string, string> } = {},
): Promise<string> {
  const r = await sandbox.exec(`set -eu\n${script}`, {
    envs: { ...sandboxGitEnv(), ...o.envs },
    timeoutMs: o.timeoutMs ?? 20 * 60_000,
  });
  if (r.exitCode !== 0)
    throw new Error(
      `${what} in the sandbox failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''}): ${(r.stderr || r.stdout).trim().slice(-800)}`,
    );
  return r.stdout;
}

/** Git in the workspace of a remote sandbox, like `git(args, { cwd })` on a local one: trimmed stdout, or an error with git's stderr. */
export function sandboxGit(sandbox: Sandbox): (args: string[]) => Promise<string> {
  return async (args) =>
    (await runInSandbox(sandbox, `git ${args.map(shq).join(' ')}`, `git ${args.join(' ')}`)).trim();
}

/** A path in the workspace for a transfer file, unlikely to meet one of the repository's. */
export function transferName(kind: string): string {
  return `.nightshift-${kind}-${randomBytes(4).toString('hex')}.bundle`;
}

/** Copies a host file into the sandbox at `dest` (workspace-relative), piece by piece. */
export async function sendFile(sandbox: Sandbox, hostFile: string, dest: string): Promise<void> {
  const parts: string[] = [];
  const stream = createReadStream(hostFile, { highWaterMark: TRANSFER_CHUNK_BYTES });
  let pending: Buffer = Buffer.alloc(0);
  const flush = async (data: Buffer) => {
    const part = `${dest}.part-${String(parts.length).padStart(5, '0')}`;
    await sandbox.writeFile(part, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    parts.push(part);
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= TRANSFER_CHUNK_BYTES) {
      await flush(pending.subarray(0, TRANSFER_CHUNK_BYTES));
      pending = pending.subarray(TRANSFER_CHUNK_BYTES);
    }
  }
  if (pending.length || parts.length === 0) await flush(pending);
  await runInSandbox(
    sandbox,
    `cat ${parts.map(shq).join(' ')} > ${shq(dest)}\nrm -f ${parts.map(shq).join(' ')}`,
    'joining a transferred file',
  );
}

/** Copies `src` (workspace-relative, a file the orchestrator made) out of the sandbox to a host file, piece by piece, and removes it there. */
export async function receiveFile(sandbox: Sandbox, src: string, hostFile: string): Promise<void> {
  const listing = await runInSandbox(
    sandbox,
    `split -b ${TRANSFER_CHUNK_BYTES} -a 5 -d ${shq(src)} ${shq(`${src}.part-`)}\nrm -f ${shq(src)}\nls -1 ${shq(src)}.part-* 2>/dev/null || true`,
    'splitting a file to transfer',
  );
  const parts = listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${src}.part-`))
    .sort();
  const out = createWriteStream(hostFile);
  try {
    for (const part of parts) {
      const data = await sandbox.readFile(part, { maxBytes: TRANSFER_CHUNK_BYTES });
      if (!out.write(data)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (parts.length)
      await runInSandbox(sandbox, `rm -f ${parts.map(shq).join(' ')}`, 'removing transferred pieces').catch(
        () => undefined,
      );
  }
}

/** A host temp file for a bundle, removed by `use`'s end whatever happens. */
export async function withTempBundle<T>(use: (file: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nightshift-transfer-'));
  try {
    return await use(path.join(dir, 'transfer.bundle'));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
