/**
 * A pids cgroup per sandbox: bounds a fork bomb and lets `kill()` find every process of
 * the sandbox, including ones started by another worker process.
 *
 * Why a cgroup and not `ulimit -u`: the kernel never applies RLIMIT_NPROC to the host's
 * root user, and a worker running as root (containers, CI) is common. For a non-root
 * worker without a writable cgroup, the local provider falls back to `ulimit -u`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cachedBase: string | null | undefined;

/** The directory under which this process may create pids cgroups, or null. */
export function pidsCgroupBase(): string | null {
  if (cachedBase !== undefined) return cachedBase;
  cachedBase = null;
  try {
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    const candidates: string[] = [];
    for (const m of mounts) {
      const [pre, post] = m.split(' - ');
      if (!post) continue;
      const mountPoint = pre.split(' ')[4];
      const [fstype, , superOpts = ''] = post.split(' ');
      if (fstype === 'cgroup' && superOpts.split(',').includes('pids')) {
        const line = own.find((l) => l.split(':')[1]?.split(',').includes('pids'));
        candidates.push(path.join(mountPoint, line?.split(':')[2] ?? '/'));
      } else if (fstype === 'cgroup2') {
        const line = own.find((l) => l.startsWith('0::'));
        candidates.push(path.join(mountPoint, line?.slice(3) ?? '/'));
      }
    }
    for (const c of candidates) {
      const base = path.join(c, 'nightshift-sandboxes');
      try {
        fs.mkdirSync(base, { recursive: true });
        if (fs.existsSync(path.join(base, 'cgroup.procs'))) {
          // cgroup v2 needs the controller enabled for children; v1 has it already.
          try {
            fs.writeFileSync(path.join(base, 'cgroup.subtree_control'), '+pids');
          } catch {
            // v1, or already enabled
          }
          const probe = path.join(base, `probe-${process.pid}`);
          fs.mkdirSync(probe, { recursive: true });
          const ok = fs.existsSync(path.join(probe, 'pids.max'));
          fs.rmdirSync(probe);
          if (ok) {
            cachedBase = base;
            break;
          }
        }
      } catch {
        // not writable here: try the next hierarchy
      }
    }
  } catch {
    // no /proc: not Linux
  }
  return cachedBase;
}

/** Creates (or reuses) the sandbox's cgroup with `pids.max = limit`; null when unavailable. */
export function ensurePidsCgroup(id: string, limit: number): string | null {
  const base = pidsCgroupBase();
  if (!base) return null;
  const dir = path.join(base, id);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'pids.max'), String(limit));
    return dir;
  } catch {
    return null;
  }
}

/**
 * SIGKILLs every process in the cgroup until it is empty, then removes it unless `keep`
 * (a timed-out command empties its sandbox's cgroup; the sandbox goes on using it).
 */
export async function killPidsCgroup(id: string, o: { keep?: boolean } = {}): Promise<number> {
  const base = pidsCgroupBase();
  if (!base) return 0;
  const dir = path.join(base, id);
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    let pids: number[];
    try {
      pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return killed;
    }
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (o.keep) return killed;
  try {
    fs.rmdirSync(dir);
  } catch {
    // still busy: the next kill() or a reboot removes it
  }
  return killed;
}
