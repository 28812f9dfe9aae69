/**
 * The cgroup v2 path of sandbox/resource-cgroup.ts, which this project's machine (cgroup
 * v1) never takes: run against a directory shaped like /sys/fs/cgroup (outside /tmp), so
 * every file it writes and reads is exercised. A plain directory makes no interface files
 * of its own, so the test lays out the ones the kernel would, and reads back what was written.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  enableV2Controller,
  ensureSandboxCgroups,
  findCgroupBases,
  killSandboxCgroups,
  type CgroupBases,
} from '../../sandbox/resource-cgroup';
import { scratchDir } from '../helpers/outside-tmp';

/** A fake unified hierarchy with the worker in `worker.service`, which offers `controllers`. */
function fakeCgroupfs(controllers = 'cpuset cpu io memory pids'): { root: string; own: string } {
  const root = path.join(scratchDir('cgroup-v2'), 'sys-fs-cgroup');
  const own = path.join(root, 'worker.service');
  fs.mkdirSync(own, { recursive: true });
  fs.writeFileSync(path.join(root, 'cgroup.controllers'), controllers);
  fs.writeFileSync(path.join(own, 'cgroup.controllers'), controllers);
  fs.writeFileSync(path.join(own, 'cgroup.subtree_control'), '');
  fs.writeFileSync(path.join(own, 'cgroup.procs'), `${process.pid}\n`);
  return { root, own };
}

const read = (file: string) => fs.readFileSync(file, 'utf8');

describe('cgroup v2 against a fake cgroupfs', () => {
  it('discovery finds the unified mount and the worker’s cgroup, and hands the controllers down', () => {
    const { root, own } = fakeCgroupfs();
    const mountinfo = [
      `24 30 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw`,
      `30 25 0:26 / ${root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`,
    ].join('\n');
    const bases = findCgroupBases('0::/worker.service\n', mountinfo);
    // A plain directory grows no pids.max in a new child, so no controller passes the probe…
    assert.deepEqual(bases, {});
    // …but the writes a real v2 host needs were made: the controller enabled in the
    // worker's cgroup and in the sandboxes' base, and the probe cgroup removed again.
    const base = path.join(own, 'nightshift-sandboxes');
    assert.ok(fs.statSync(base).isDirectory());
    assert.match(read(path.join(own, 'cgroup.subtree_control')), /^\+(pids|memory|cpu)$/);
    assert.match(read(path.join(base, 'cgroup.subtree_control')), /^\+(pids|memory|cpu)$/);
    assert.deepEqual(
      fs.readdirSync(base).filter((f) => f.startsWith('probe-')),
      [],
    );
  });

  it('a controller the worker’s cgroup does not offer is not asked for', () => {
    const { own } = fakeCgroupfs('cpuset io pids');
    const base = path.join(own, 'nightshift-sandboxes');
    fs.mkdirSync(base);
    enableV2Controller(own, base, 'memory');
    assert.equal(read(path.join(own, 'cgroup.subtree_control')), '');
    assert.equal(fs.existsSync(path.join(base, 'cgroup.subtree_control')), false);
    enableV2Controller(own, base, 'pids');
    assert.equal(read(path.join(own, 'cgroup.subtree_control')), '+pids');
    assert.equal(read(path.join(base, 'cgroup.subtree_control')), '+pids');
  });

  it('a sandbox’s cgroup gets memory.max, no swap, a group OOM, cpu.max and pids.max in one directory', () => {
    const { own } = fakeCgroupfs();
    const base = path.join(own, 'nightshift-sandboxes');
    const bases: CgroupBases = {
      pids: { dir: base, version: 2 },
      memory: { dir: base, version: 2 },
      cpu: { dir: base, version: 2 },
    };
    const cg = ensureSandboxCgroups('sbx-v2', { pids: 64, memoryBytes: 128 * 1024 * 1024, cpus: 0.5 }, bases);
    const dir = path.join(base, 'sbx-v2');
    assert.deepEqual(cg.procsFiles, [path.join(dir, 'cgroup.procs')], 'one unified cgroup, joined once');
    assert.deepEqual([...cg.enforced].sort(), ['cpu', 'memory', 'pids']);
    assert.equal(read(path.join(dir, 'pids.max')), '64');
    assert.equal(read(path.join(dir, 'memory.max')), String(128 * 1024 * 1024));
    assert.equal(read(path.join(dir, 'memory.swap.max')), '0');
    assert.equal(read(path.join(dir, 'memory.oom.group')), '1');
    assert.equal(read(path.join(dir, 'cpu.max')), '50000 100000');
    // OOM kills are counted from memory.events, as the kernel writes it.
    assert.equal(cg.oomKills(), undefined);
    fs.writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 1\n');
    assert.equal(cg.oomKills(), 2);
  });

  it('kill writes cgroup.kill and SIGKILLs what cgroup.procs lists', { timeout: 30_000 }, async () => {
    const { own } = fakeCgroupfs();
    const base = path.join(own, 'nightshift-sandboxes');
    const bases: CgroupBases = { pids: { dir: base, version: 2 } };
    ensureSandboxCgroups('sbx-kill', { pids: 16 }, bases);
    const dir = path.join(base, 'sbx-kill');
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => sleeper.on('exit', (_code, sig) => resolve(sig)));
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), `${sleeper.pid}\n`);
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '');
    await killSandboxCgroups('sbx-kill', { bases, keep: true });
    assert.equal(read(path.join(dir, 'cgroup.kill')), '1');
    assert.equal(await exited, 'SIGKILL');
  });
});
