/**
 * A real Docker engine of the test's own: dockerd started on a socket, data root and exec
 * root in a temporary directory, with no bridge and no iptables rules (its containers run
 * with network "none", so the host's network is never touched), and the sandbox image
 * imported from the root filesystem `scripts/bootstrap.sh --docker` caches. No registry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { cacheDir } from '../../common/config';
import { removeTree } from '../helpers/mounts';

export const TEST_IMAGE = 'nightshift-sandbox:test';

export interface TestEngine {
  socketPath: string;
  docker: Docker;
  /** Host directory for the provider's egress sockets. */
  egressDir: string;
  /** The last lines dockerd logged, for a failing assertion's message. */
  log(): string;
  stop(): Promise<void>;
}

function findDockerd(): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = path.join(dir, 'dockerd');
    if (fs.existsSync(p)) return p;
  }
  throw new Error("dockerd not found: run `scripts/bootstrap.sh --docker` (it installs Debian's docker.io)");
}

const DIR_PREFIX = 'nsdocker-';

/**
 * Stops the engines of test processes that were killed before they could (a dockerd
 * outlives its parent), then removes their directories. SIGTERM, as a clean shutdown
 * stops the containers and containerd with it.
 */
async function sweepStaleEngines(): Promise<void> {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const owner = Number(new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!owner || owner === process.pid || alive(owner)) continue;
    const dir = path.join(os.tmpdir(), name);
    const pidFile = path.join(dir, 'dockerd.pid');
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    removeTree(dir);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export async function startTestEngine(): Promise<TestEngine> {
  const dockerd = findDockerd();
  const rootfs = path.join(cacheDir(), 'docker-rootfs', 'rootfs.tar');
  if (!fs.existsSync(rootfs)) throw new Error(`${rootfs} is missing: run \`scripts/bootstrap.sh --docker\``);
  await sweepStaleEngines();
  // Short: containerd's socket lives under the exec root, and Unix socket paths are limited to
  // 108 bytes. The test process's pid lets a later run clean up after a killed one.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const socketPath = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    dockerd,
    [
      '--host',
      `unix://${socketPath}`,
      '--data-root',
      path.join(dir, 'data'),
      '--exec-root',
      path.join(dir, 'exec'),
      '--pidfile',
      path.join(dir, 'dockerd.pid'),
      '--bridge',
      'none',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
      '--userland-proxy=false',
    ],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '');
  let exited: number | null | undefined;
  const gone = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve();
    }),
  );

  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(timer);
    }
    removeTree(dir);
  };

  const docker = new Docker({ socketPath });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`dockerd exited with ${exited} before answering:\n${log()}`);
      if (
        await docker.ping().then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${socketPath} within 60 s:\n${log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const [repo, tag] = TEST_IMAGE.split(':');
    const progress = await docker.importImage(fs.createReadStream(rootfs), { repo, tag });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { socketPath, docker, egressDir: path.join(dir, 'egress'), log, stop };
}
