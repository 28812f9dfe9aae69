/**
 * One cgroup per sandbox and controller (pids, memory, cpu): bounds a fork bomb, memory and
 * CPU, and lets `kill()` find every process of the sandbox, including ones started by
 * another worker process.
 *
 * Works with cgroup v2 (one unified hierarchy) and v1 (one hierarchy per controller, as in
 * many containers), nested under the worker's own cgroup of each controller. Why cgroups
 * and not rlimits: the kernel never applies RLIMIT_NPROC to root, and RLIMIT_AS counts
 * address space, not memory. Where no cgroup is writable the local provider falls back to
 * `ulimit -u` and says the other bounds are off (see LocalSandbox).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Controller = 'pids' | 'memory' | 'cpu';
const CONTROLLERS: readonly Controller[] = ['pids', 'memory', 'cpu'];

interface Base {
  dir: string;
  version: 1 | 2;
}

/** The file each controller must offer in a child cgroup, to tell it works. */
const PROBE_FILE: Record<Controller, { 1: string; 2: string }> = {
  pids: { 1: 'pids.max', 2: 'pids.max' },
  memory: { 1: 'memory.limit_in_bytes', 2: 'memory.max' },
  cpu: { 1: 'cpu.cfs_quota_us', 2: 'cpu.max' },
};

export type CgroupBases = Partial<Record<Controller, Base>>;

let cachedBases: CgroupBases | undefined;

/** Per controller, the directory under which this process may create sandbox cgroups. */
export function cgroupBases(): CgroupBases {
  if (cachedBases) return cachedBases;
  try {
    cachedBases = findCgroupBases(
      fs.readFileSync('/proc/self/cgroup', 'utf8'),
      fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    );
  } catch {
    cachedBases = {}; // no /proc: not Linux
  }
  return cachedBases;
}

/**
 * The bases, from this process's /proc/self/cgroup and /proc/self/mountinfo texts: for each
 * controller the first hierarchy where a `nightshift-sandboxes` cgroup can be made and a
 * child of it offers the controller's files.
 */
export function findCgroupBases(procSelfCgroup: string, mountinfo: string): CgroupBases {
  const found: CgroupBases = {};
  const own = procSelfCgroup.split('\n');
  const mounts = mountinfo.split('\n');
  const candidates: { controller: Controller; dir: string; version: 1 | 2 }[] = [];
  for (const m of mounts) {
    const [pre, post] = m.split(' - ');
    if (!post) continue;
    const mountPoint = pre.split(' ')[4];
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup') {
      for (const controller of CONTROLLERS) {
        if (!superOpts.split(',').includes(controller)) continue;
        const line = own.find((l) => l.split(':')[1]?.split(',').includes(controller));
        candidates.push({ controller, dir: path.join(mountPoint, line?.split(':')[2] ?? '/'), version: 1 });
      }
    } else if (fstype === 'cgroup2') {
      const line = own.find((l) => l.startsWith('0::'));
      for (const controller of CONTROLLERS)
        candidates.push({ controller, dir: path.join(mountPoint, line?.slice(3) ?? '/'), version: 2 });
    }
  }
  // v1 first: on hybrid systems the unified hierarchy usually has no controllers.
  candidates.sort((a, b) => a.version - b.version);
  for (const c of candidates) {
    if (found[c.controller]) continue;
    const base = path.join(c.dir, 'nightshift-sandboxes');
    try {
      fs.mkdirSync(base, { recursive: true });
      if (c.version === 2) enableV2Controller(c.dir, base, c.controller);
      const probe = path.join(base, `probe-${process.pid}`);
      fs.mkdirSync(probe, { recursive: true });
      const ok = fs.existsSync(path.join(probe, PROBE_FILE[c.controller][c.version]));
      fs.rmdirSync(probe);
      if (ok) found[c.controller] = { dir: base, version: c.version };
    } catch {
      // not writable here: try the next hierarchy
    }
  }
  return found;
}

/** Where the worker's own processes go when its cgroup must hand controllers down (v2). */
export const WORKER_LEAF = 'nightshift-worker';

/**
 * Makes `controller` available in the children of `base` on cgroup v2. The kernel's rules
 * (Documentation/admin-guide/cgroup-v2.rst): a controller reaches a child only when every
 * ancestor lists it in `cgroup.subtree_control` (top-down), and a non-root cgroup that
 * holds processes cannot enable any there (EBUSY: no internal processes). So the worker's
 * own cgroup (`parent`, delegated to it) enables the controller, after moving the
 * processes it holds, the worker among them, into a leaf of their own; then `base` does.
 * A controller the parent does not offer (`cgroup.controllers`) is left alone.
 */
export function enableV2Controller(parent: string, base: string, controller: Controller): void {
  const offered = (dir: string) => readWords(path.join(dir, 'cgroup.controllers')).includes(controller);
  const enabled = (dir: string) => readWords(path.join(dir, 'cgroup.subtree_control')).includes(controller);
  if (!offered(parent)) return;
  const enable = (dir: string) => fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), `+${controller}`);
  if (!enabled(parent)) {
    try {
      enable(parent);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      const leaf = path.join(parent, WORKER_LEAF);
      fs.mkdirSync(leaf, { recursive: true });
      // One pid per write: cgroup.procs takes a single pid each time.
      for (const pid of readWords(path.join(parent, 'cgroup.procs'))) {
        try {
          fs.writeFileSync(path.join(leaf, 'cgroup.procs'), pid);
        } catch {
          // exited meanwhile
        }
      }
      enable(parent);
    }
  }
  if (!enabled(base)) enable(base);
}

function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** The directory under which pids cgroups are made, or null (kept for callers that only need pids). */
export function pidsCgroupBase(): string | null {
  return cgroupBases().pids?.dir ?? null;
}

export interface ResourceLimits {
  pids: number;
  /** Bytes; undefined for none. */
  memoryBytes?: number;
  /** CPUs' worth of time per period; undefined for none. */
  cpus?: number;
}

export interface SandboxCgroups {
  /** `cgroup.procs` files a command's first process writes its pid to. */
  procsFiles: string[];
  /** Which limits are in force. */
  enforced: Set<Controller>;
  /** Count of OOM kills so far in the sandbox's memory cgroup, if it has one. */
  oomKills(): number | undefined;
}

/** Creates (or reuses) the sandbox's cgroups with the limits written; controllers that fail are left out. */
export function ensureSandboxCgroups(
  id: string,
  limits: ResourceLimits,
  bases: CgroupBases = cgroupBases(),
): SandboxCgroups {
  const dirs = new Map<string, 1 | 2>();
  const enforced = new Set<Controller>();
  let memory: { dir: string; version: 1 | 2 } | undefined;
  for (const controller of CONTROLLERS) {
    const base = bases[controller];
    if (!base) continue;
    if (controller === 'memory' && limits.memoryBytes === undefined) continue;
    if (controller === 'cpu' && limits.cpus === undefined) continue;
    const dir = path.join(base.dir, id);
    try {
      fs.mkdirSync(dir, { recursive: true });
      writeLimit(dir, base.version, controller, limits);
      dirs.set(dir, base.version);
      enforced.add(controller);
      if (controller === 'memory') memory = { dir, version: base.version };
    } catch {
      // this controller stays off for the sandbox
    }
  }
  return {
    procsFiles: [...dirs.keys()].map((d) => path.join(d, 'cgroup.procs')),
    enforced,
    oomKills() {
      if (!memory) return undefined;
      try {
        const file = memory.version === 1 ? 'memory.oom_control' : 'memory.events';
        const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(memory.dir, file), 'utf8'));
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

function writeLimit(dir: string, version: 1 | 2, controller: Controller, limits: ResourceLimits): void {
  const w = (file: string, value: string) => fs.writeFileSync(path.join(dir, file), value);
  const tryW = (file: string, value: string) => {
    try {
      w(file, value);
    } catch {
      // optional knob (no swap accounting, for one)
    }
  };
  if (controller === 'pids') w('pids.max', String(limits.pids));
  else if (controller === 'memory') {
    const bytes = String(limits.memoryBytes);
    if (version === 2) {
      w('memory.max', bytes);
      tryW('memory.swap.max', '0');
      // An OOM ends the whole command, as on v1, rather than one process of it.
      tryW('memory.oom.group', '1');
    } else {
      // memsw must stay >= the memory limit, so raise it first when growing, then both.
      tryW('memory.memsw.limit_in_bytes', '-1');
      w('memory.limit_in_bytes', bytes);
      tryW('memory.memsw.limit_in_bytes', bytes);
    }
  } else {
    const period = 100_000;
    const quota = String(Math.max(1000, Math.round((limits.cpus ?? 1) * period)));
    if (version === 2) w('cpu.max', `${quota} ${period}`);
    else {
      w('cpu.cfs_period_us', String(period));
      w('cpu.cfs_quota_us', quota);
    }
  }
}

function sandboxDirs(id: string, bases: CgroupBases): Array<{ dir: string; version: 1 | 2 }> {
  const seen = new Map<string, 1 | 2>();
  for (const base of Object.values(bases)) seen.set(path.join(base.dir, id), base.version);
  return [...seen].map(([dir, version]) => ({ dir, version }));
}

/**
 * SIGKILLs every process in the sandbox's cgroups until they are empty, then removes them
 * unless `keep` (a timed-out command empties its sandbox's cgroups; the sandbox goes on
 * using them).
 */
export async function killSandboxCgroups(id: string, o: { keep?: boolean; bases?: CgroupBases } = {}): Promise<number> {
  const cgroups = sandboxDirs(id, o.bases ?? cgroupBases());
  const dirs = cgroups.map((c) => c.dir);
  // v2 (5.14+) kills a whole cgroup at once, and a fork racing the kill dies too; the
  // loop below then only waits for it to be empty (and does the work on older kernels).
  for (const c of cgroups) {
    if (c.version !== 2 || !fs.existsSync(path.join(c.dir, 'cgroup.kill'))) continue;
    try {
      fs.writeFileSync(path.join(c.dir, 'cgroup.kill'), '1');
    } catch {
      // not supported here
    }
  }
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    const pids = new Set<number>();
    for (const dir of dirs) {
      try {
        for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
      } catch {
        // no such cgroup
      }
    }
    if (pids.size === 0) break;
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
  for (const dir of dirs) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // absent or still busy: the next kill() or a reboot removes it
    }
  }
  return killed;
}
