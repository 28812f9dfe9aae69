/**
 * The OS-isolation layer of the local provider: each command runs under bubblewrap with an
 * allowlist view of the filesystem, its own PID, IPC, UTS and network namespaces, no
 * capabilities, and an environment made only of what it is given.
 *
 * What the command sees (nothing else of the host exists for it):
 *   - its workspace, TMPDIR and HOME, read-write, at their host paths (the policy and the
 *     worker's git speak of the same paths); the workspace's `.git` read-only;
 *   - /usr and the /bin, /sbin, /lib* links or directories, read-only;
 *   - the /etc entries in ETC_ALLOWLIST, read-only (no shadow, ssh, sudoers, npmrc, pip.conf…);
 *   - a fresh /proc of its own PID namespace, a minimal /dev, and a fresh /tmp;
 *   - with a network allowlist, the egress proxy's socket (see egress-proxy.ts).
 *
 * Why bubblewrap directly and not a wrapper library: the view has to be an allowlist, and
 * every helper the command needs on the host has to end with the command or the worker.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { proxyEnv, startEgressProxy, type EgressProxy } from './egress-proxy';

/**
 * The /etc entries a sandbox may read: user and group names, name resolution, TLS roots,
 * the dynamic linker, time zone, MIME and terminal data, language runtimes' own config.
 * Missing ones are skipped.
 */
export const ETC_ALLOWLIST: readonly string[] = [
  'passwd',
  'group',
  'hosts',
  'host.conf',
  'resolv.conf',
  'nsswitch.conf',
  'gai.conf',
  'services',
  'protocols',
  'networks',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
  'pki',
  'alternatives',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'localtime',
  'timezone',
  'mime.types',
  'magic',
  'magic.mime',
  'terminfo',
  'inputrc',
  'bash.bashrc',
  'profile',
  'shells',
  'os-release',
  'debian_version',
  'locale.alias',
  'python3',
  'perl',
  'java-17-openjdk',
  'java-21-openjdk',
];

/** /proc entries made read-only, and files hidden (host-wide keys and kernel internals). */
const PROC_READ_ONLY = ['sys', 'sysrq-trigger', 'irq', 'bus', 'fs', 'acpi', 'scsi'];
const PROC_HIDDEN = ['keys', 'key-users', 'kcore', 'timer_list', 'sched_debug', 'latency_stats'];

/** System directories bound read-only; on merged-/usr systems the others are symlinks. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** Where the egress proxy's socket appears inside the sandbox, and the bridge's port. */
const PROXY_SOCKET_INSIDE = '/run/nightshift/egress.sock';
export const SANDBOX_PROXY_PORT = 3128;

const PROXY_DIR_PREFIX = 'nightshift-egress-';

/** Removes the socket directories of workers that died without cleaning up (SIGKILL). */
async function sweepStaleProxyDirs(): Promise<void> {
  const entries = await fs.promises.readdir(os.tmpdir()).catch(() => [] as string[]);
  for (const name of entries) {
    const pid = Number(new RegExp(`^${PROXY_DIR_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH')
        await fs.promises.rm(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Proxies of commands still running, so shutdownIsolation can close them. */
const openProxies = new Map<EgressProxy, string>();

/** Closes every egress proxy still open (their commands are being torn down anyway). */
export async function shutdownIsolation(): Promise<void> {
  const open = [...openProxies];
  openProxies.clear();
  await Promise.all(
    open.map(async ([proxy, dir]) => {
      await proxy.close();
      await fs.promises.rm(dir, { recursive: true, force: true });
    }),
  );
}

export interface IsolationRules {
  /** Host directories the command may read and write: workspace, TMPDIR, HOME. */
  writable: string[];
  /**
   * Paths inside the writable ones bound read-only over them (the workspace's `.git`).
   * Each must exist: bubblewrap needs a mount point.
   */
  readOnly: string[];
  /** Working directory (a host path inside a writable directory). */
  cwd: string;
  /** The command's whole environment. */
  env: Record<string, string>;
  /** Hosts the command may reach through the proxy; empty for none. */
  allowHosts: string[];
}

export interface IsolatedCommand {
  /** bubblewrap's arguments (without the program name), ending with the command. */
  args: string[];
  /** Must be called once the command has exited (or failed to start). */
  release(): Promise<void>;
}

/** bubblewrap arguments for the read-only system part of the view. */
export function systemView(): string[] {
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(dir), dir);
    else if (st.isDirectory()) args.push('--ro-bind', dir, dir);
  }
  args.push('--dir', '/etc');
  for (const entry of ETC_ALLOWLIST) {
    const p = path.join('/etc', entry);
    if (fs.existsSync(p)) args.push('--ro-bind', p, p);
  }
  args.push('--symlink', '/proc/self/mounts', '/etc/mtab');
  args.push('--proc', '/proc');
  // Root without capabilities may still write what procfs guards by file mode only:
  // kernel.core_pattern (a program the host kernel runs as root), sysrq-trigger (reboot)
  // and the other global sysctls. They stay readable, never writable.
  for (const entry of PROC_READ_ONLY) args.push('--ro-bind-try', `/proc/${entry}`, `/proc/${entry}`);
  for (const entry of PROC_HIDDEN)
    if (fs.existsSync(`/proc/${entry}`)) args.push('--ro-bind', '/dev/null', `/proc/${entry}`);
  args.push('--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/var/tmp');
  return args;
}

const SYSTEM_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const toolsFound = new Set<string>();

/** Fails with what to install, rather than letting the agent see `command not found`. */
function requireTool(name: string, pkg: string): void {
  if (toolsFound.has(name)) return;
  if (!SYSTEM_BIN_DIRS.some((d) => fs.existsSync(path.join(d, name)))) {
    throw new Error(
      `local sandbox unavailable: ${name} not found in ${SYSTEM_BIN_DIRS.join(':')} (install ${pkg}; scripts/bootstrap.sh does)`,
    );
  }
  toolsFound.add(name);
}

/** Wraps `command` so it runs under the rules; see IsolatedCommand. */
export async function isolate(command: string, rules: IsolationRules): Promise<IsolatedCommand> {
  requireTool('bwrap', 'bubblewrap');
  if (rules.allowHosts.length > 0) requireTool('socat', 'socat');
  const env = { ...rules.env };
  let proxy: EgressProxy | undefined;
  let proxyDir: string | undefined;
  let setup = '';
  const binds: string[] = [];
  if (rules.allowHosts.length > 0) {
    await sweepStaleProxyDirs();
    // A short path: Unix socket paths are limited to 108 bytes. The pid in the name lets a
    // later worker remove what a killed one left.
    proxyDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `${PROXY_DIR_PREFIX}${process.pid}-`));
    const dir = proxyDir;
    proxy = await startEgressProxy(path.join(dir, `${randomBytes(4).toString('hex')}.sock`), rules.allowHosts).catch(
      async (err: unknown) => {
        await fs.promises.rm(dir, { recursive: true, force: true });
        throw err;
      },
    );
    openProxies.set(proxy, proxyDir);
    binds.push('--ro-bind', proxy.socketPath, PROXY_SOCKET_INSIDE);
    Object.assign(env, proxyEnv(`http://127.0.0.1:${SANDBOX_PROXY_PORT}`));
    // The bridge runs in a subshell so it is no job of the command's shell (`wait` would
    // wait for it), and the command starts once it listens (0C38 = 3128, 0A = LISTEN).
    setup = [
      `(exec socat TCP-LISTEN:${SANDBOX_PROXY_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${PROXY_SOCKET_INSIDE} </dev/null >/dev/null 2>&1 &)`,
      `for _ in $(seq 300); do grep -q ':0C38 00000000:0000 0A' /proc/net/tcp 2>/dev/null && break; sleep 0.01; done; unset _`,
      '',
    ].join('\n');
  }
  const args = [
    '--die-with-parent',
    '--new-session',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-net',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'sandbox',
    '--cap-drop',
    'ALL',
    ...systemView(),
  ];
  for (const dir of rules.writable) args.push('--bind', dir, dir);
  for (const p of rules.readOnly) args.push('--ro-bind', p, p);
  // Last mount step: the root tmpfs (where /etc's allowlist and the mount points live)
  // becomes read-only; the binds and /tmp below it keep their own modes.
  args.push(...binds, '--remount-ro', '/', '--clearenv');
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
  args.push('--chdir', rules.cwd, '/bin/bash', '-c', `${setup}${command}`);

  let released = false;
  return {
    args,
    async release() {
      if (released) return;
      released = true;
      if (proxy) {
        openProxies.delete(proxy);
        await proxy.close();
      }
      if (proxyDir) await fs.promises.rm(proxyDir, { recursive: true, force: true });
    },
  };
}
