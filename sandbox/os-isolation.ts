/**
 * The OS-isolation layer of the local provider: @anthropic-ai/sandbox-runtime, which on
 * Linux runs each command under bubblewrap (no network namespace, filesystem binds, a
 * seccomp filter) with its traffic forced through a filtering proxy on the host.
 *
 * The runtime is a process-wide singleton with one configuration, while each sandbox
 * needs its own workspace and network allowlist. So it is initialised once with nothing
 * allowed, and every command carries its own filesystem rules (`customConfig`) and its
 * own network allowlist (registered under an unguessable per-command id).
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { SandboxManager, type SandboxRuntimeConfig } from '@anthropic-ai/sandbox-runtime';

let ready: Promise<void> | undefined;

/** Host paths no sandbox may read, on top of the worker's own files. */
export const HOST_DENY_READ: readonly string[] = [
  '/root',
  '/home',
  '/tmp',
  '/var/tmp',
  '/run',
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/ssh',
];

/** This checkout of nightshift (its code, config and node_modules). */
export const NIGHTSHIFT_CHECKOUT = path.resolve(__dirname, '..');

function ensureInitialized(): Promise<void> {
  ready ??= (async () => {
    const deps = SandboxManager.checkDependencies();
    if (deps.errors.length > 0) {
      throw new Error(`local sandbox unavailable: ${deps.errors.join('; ')} (install bubblewrap, socat and ripgrep)`);
    }
    // Empty allowlists: everything is denied unless a command registers its own list.
    const base: SandboxRuntimeConfig = {
      network: { allowedDomains: [], deniedDomains: [] },
      filesystem: { denyRead: [...HOST_DENY_READ], allowWrite: [], denyWrite: [] },
    };
    await SandboxManager.initialize(base);
  })();
  ready.catch(() => {
    ready = undefined;
  });
  return ready;
}

/**
 * Stops the runtime's proxies and bridges (they keep the event loop alive). Call on
 * worker shutdown and at the end of tests; the next command initialises it again.
 */
export async function shutdownIsolation(): Promise<void> {
  if (!ready) return;
  ready = undefined;
  await SandboxManager.reset();
}

export interface IsolatedCommand {
  /** `bash -c` script that runs the command inside the sandbox. */
  script: string;
  /** Must be called once the command has exited (or failed to start). */
  release(): void;
}

export interface IsolationRules {
  /** Directories the command may read and write (workspace, private tmp, home). */
  writable: string[];
  /** Paths inside the writable ones that stay read-only (the workspace's `.git`). */
  readOnly: string[];
  /** Host paths to hide on top of HOST_DENY_READ. */
  denyRead: string[];
  /** Hosts the command may reach through the proxy; empty for none. */
  allowHosts: string[];
}

/** Wraps `command` so it runs under the rules; see IsolatedCommand. */
export async function isolate(command: string, rules: IsolationRules): Promise<IsolatedCommand> {
  await ensureInitialized();
  const commandId = randomBytes(16).toString('base64url');
  // The proxy sockets live in /tmp, which is hidden: bind them back or nothing is reachable.
  const sockets = [SandboxManager.getLinuxHttpSocketPath(), SandboxManager.getLinuxSocksSocketPath()].filter(
    (s): s is string => typeof s === 'string',
  );
  const runtimeDir = path.dirname(require.resolve('@anthropic-ai/sandbox-runtime'));
  const customConfig: Partial<SandboxRuntimeConfig> = {
    filesystem: {
      denyRead: [...HOST_DENY_READ, NIGHTSHIFT_CHECKOUT, ...rules.denyRead],
      // The seccomp helper runs inside the sandbox, from this checkout's node_modules.
      allowRead: [...rules.writable, ...sockets, path.join(runtimeDir, '..', 'vendor', 'seccomp')],
      allowWrite: rules.writable,
      denyWrite: rules.readOnly,
    },
  };
  if (rules.allowHosts.length > 0) {
    SandboxManager.registerCommandNetworkLists(commandId, { allowedDomains: rules.allowHosts });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    SandboxManager.unregisterCommandNetworkLists(commandId);
    SandboxManager.cleanupAfterCommand();
  };
  try {
    const script = await SandboxManager.wrapWithSandbox(command, undefined, customConfig, undefined, {
      commandId,
      commandText: command,
    });
    return { script, release };
  } catch (err) {
    SandboxManager.unregisterCommandNetworkLists(commandId);
    throw err;
  }
}
