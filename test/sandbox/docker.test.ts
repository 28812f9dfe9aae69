/**
 * The docker provider against a real engine (test/sandbox/docker-engine.ts): containers,
 * volumes, exec, the egress proxy and the engine's cgroup limits all really run.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyViolation, SandboxGone } from '../../common/errors';
import { createDockerProvider, DOCKER_KEY_LABEL, type DockerProviderOptions } from '../../sandbox/docker';
import { checkCommandInSandbox, DEFAULT_SAFETY_POLICY, RULES } from '../../sandbox/policy';
import { routeSandboxes } from '../../sandbox/router';
import { policyWorkspaceRoot } from '../../sandbox/workspace';
import type { SandboxProvider } from '../../sandbox/types';
import { startTestEngine, TEST_IMAGE, type TestEngine } from './docker-engine';

let engine: TestEngine;
let provider: SandboxProvider;
const providerWith = (o: DockerProviderOptions = {}) =>
  createDockerProvider({
    docker: { socketPath: engine.socketPath },
    image: TEST_IMAGE,
    egressDir: engine.egressDir,
    ...o,
  });

before(async () => {
  engine = await startTestEngine();
  provider = providerWith();
});
after(async () => {
  await engine?.stop();
});

async function containersWithKey(key: string) {
  return engine.docker.listContainers({ all: true, filters: { label: [`${DOCKER_KEY_LABEL}=${key}`] } });
}

describe('docker provider on a real engine: lifecycle', () => {
  it('creates once per key (repeated and racing), reconnects by id, kills container and volume', async () => {
    const racing = await Promise.all([1, 2, 3].map(() => provider.create({ key: 'night-1/task-a' })));
    assert.equal(new Set(racing.map((s) => s.id)).size, 1, 'racing creators agree on one container');
    assert.equal((await containersWithKey('night-1/task-a')).length, 1);
    const again = await provider.create({ key: 'night-1/task-a' });
    assert.equal(again.id, racing[0].id);

    const info = await engine.docker.getContainer(again.id).inspect();
    assert.equal(info.Config.Labels[DOCKER_KEY_LABEL], 'night-1/task-a');
    const volume = info.Mounts.find((m) => m.Destination === '/workspace');
    assert.equal(volume?.Type, 'volume');

    // A later worker knows only the id.
    const connected = await providerWith().connect(again.id);
    const r = await connected.exec('pwd; id -u');
    assert.deepEqual(r.stdout.split('\n').slice(0, 2), ['/workspace', '0']);

    assert.equal(await connected.kill(), true);
    assert.equal(await again.kill(), false);
    await assert.rejects(provider.connect(again.id), SandboxGone);
    await assert.rejects(
      engine.docker.getVolume(volume!.Name!).inspect(),
      /no such volume/i,
      'the workspace volume goes with the sandbox',
    );
  });

  it('a stopped container is started again, a removed one recreated on the same workspace volume', async () => {
    const first = await provider.create({ key: 'night-1/task-b' });
    await first.writeFile('notes.txt', 'kept\n');
    await engine.docker.getContainer(first.id).stop({ t: 0 });
    await assert.rejects(provider.connect(first.id), SandboxGone);
    const restarted = await provider.create({ key: 'night-1/task-b' });
    assert.equal(restarted.id, first.id);
    assert.equal((await restarted.exec('cat notes.txt')).stdout, 'kept\n');

    await engine.docker.getContainer(first.id).remove({ force: true });
    const recreated = await provider.create({ key: 'night-1/task-b' });
    assert.notEqual(recreated.id, first.id);
    assert.equal(Buffer.from(await recreated.readFile('notes.txt')).toString(), 'kept\n');
    await recreated.kill();
  });

  it('names a missing image clearly', async () => {
    await assert.rejects(
      provider.create({ key: 'night-1/no-image', template: 'nightshift-absent:none' }),
      /nightshift-absent:none is not on the engine/,
    );
    assert.equal((await containersWithKey('night-1/no-image')).length, 0);
  });
});

describe('docker provider on a real engine: exec and files', () => {
  it('runs commands in the workspace with only the given environment', async () => {
    const sb = await provider.create({ key: 'night-2/exec', envs: { FROM_CREATE: 'yes' } });
    try {
      await sb.exec('mkdir -p sub');
      const r = await sb.exec('pwd; echo "$FROM_CREATE $FROM_EXEC"; echo oops >&2; exit 3', {
        cwd: 'sub',
        envs: { FROM_EXEC: 'too' },
      });
      assert.deepEqual(r, { exitCode: 3, stdout: '/workspace/sub\nyes too\n', stderr: 'oops\n', timedOut: false });
      assert.doesNotMatch((await sb.exec('env')).stdout, /ANTHROPIC|GITHUB_TOKEN|E2B_API_KEY/);

      const streamed: string[] = [];
      await sb.exec('for i in 1 2 3; do echo line$i; done', { onOutput: (c) => streamed.push(c) });
      assert.match(streamed.join(''), /line1\nline2\nline3\n/);
      assert.equal((await sb.exec('git --version')).exitCode, 0, 'the image has git');
    } finally {
      await sb.kill();
    }
  });

  it('the command policy names the workspace where the container has it: a delete inside passes, one outside is refused', async () => {
    // Reached as the agent's tools reach it: through the router, under the id the workflow stores.
    const sb = await routeSandboxes({ local: () => assert.fail('no local sandbox here'), docker: provider }).createOn(
      'docker',
      { key: 'night-2/policy' },
    );
    try {
      await sb.writeFile('build.log', 'old\n');
      const root = policyWorkspaceRoot(sb);
      assert.equal(root, (await sb.exec('pwd')).stdout.trim(), 'the policy root is the directory commands start in');
      await checkCommandInSandbox(`rm ${root}/build.log`, DEFAULT_SAFETY_POLICY, root, sb);
      assert.equal(
        (await sb.exec(`rm ${root}/build.log && ls`)).stdout,
        '',
        'the checked delete removed the file it named',
      );
      await assert.rejects(
        checkCommandInSandbox('rm /home/user/workspace/build.log', DEFAULT_SAFETY_POLICY, root, sb),
        (err: unknown) => err instanceof PolicyViolation && err.rule === RULES.delete,
      );
      await assert.rejects(
        checkCommandInSandbox(`rm ${root}/../etc/hostname`, DEFAULT_SAFETY_POLICY, root, sb),
        (err: unknown) => err instanceof PolicyViolation && err.rule === RULES.delete,
      );
    } finally {
      await sb.kill();
    }
  });

  it('moves large and binary files both ways, and refuses what is not a regular file', async () => {
    const sb = await provider.create({ key: 'night-2/files' });
    try {
      const big = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
      await sb.writeFile('deep/dir/blob.bin', big);
      assert.equal((await sb.exec('wc -c < deep/dir/blob.bin')).stdout.trim(), String(big.length));
      assert.ok(Buffer.from(await sb.readFile('deep/dir/blob.bin')).equals(big));
      await sb.writeFile("/workspace/quote's name.txt", 'it\'s "quoted" $HOME `id`\n');
      assert.equal(Buffer.from(await sb.readFile("quote's name.txt")).toString(), 'it\'s "quoted" $HOME `id`\n');

      await sb.exec('mkfifo pipe && ln -s deep/dir/blob.bin link');
      await assert.rejects(sb.readFile('missing.txt'), { code: 'ENOENT' });
      await assert.rejects(sb.readFile('deep'), { code: 'EISDIR' });
      await assert.rejects(sb.readFile('pipe'), { code: 'EFTYPE' }, 'a FIFO is refused, not read (it would block)');
      await assert.rejects(sb.readFile('link'), { code: 'EFTYPE' });
      await assert.rejects(sb.readFile('deep/dir/blob.bin', { maxBytes: 1024 }), { code: 'EFBIG' });

      const entries = await sb.list('.', { depth: 3 });
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.deepEqual(byPath.get('deep/dir/blob.bin'), { path: 'deep/dir/blob.bin', type: 'file', size: big.length });
      assert.equal(byPath.get('deep')?.type, 'dir');
      assert.equal(byPath.get('link')?.symlink, true);
      assert.equal(byPath.has('pipe'), false, 'a FIFO is no file or directory');
      assert.equal((await sb.list('.', { depth: 3, maxEntries: 2 })).length, 2);
    } finally {
      await sb.kill();
    }
  });

  it('kills a command past its timeout, and an aborted one, with their whole process group', async () => {
    const sb = await provider.create({ key: 'night-2/kill' });
    try {
      const started = Date.now();
      const r = await sb.exec('(sleep 300; echo late > late.txt) & sleep 301', { timeoutMs: 1500 });
      assert.equal(r.timedOut, true);
      assert.equal(r.exitCode, 137);
      assert.ok(Date.now() - started < 15_000, 'returns at its timeout, not when the sleep ends');
      // The bracket keeps the pattern from matching the grep's own command line.
      const left = async () =>
        (await sb.exec("grep -l -e 'sleep 30[01]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l")).stdout.trim();
      assert.equal(await left(), '0', 'the background child died with the command');

      const ac = new AbortController();
      const running = sb.exec('sleep 300', { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 1000));
      ac.abort();
      assert.deepEqual(await running, { exitCode: 137, stdout: '', stderr: '', timedOut: false });
      let count = '1';
      for (let i = 0; i < 50 && count !== '0'; i++) {
        count = (await sb.exec("grep -l -e 'sleep 30[0]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l")).stdout.trim();
        if (count !== '0') await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(count, '0', 'an aborted command is killed inside the container too');

      const self = await sb.exec('kill -KILL $$', { timeoutMs: 60_000 });
      assert.deepEqual([self.exitCode, self.timedOut], [137, false], 'a command killed early did not time out');
    } finally {
      await sb.kill();
    }
  });
});

describe('docker provider on a real engine: network', () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = http.createServer((req, res) => res.end(`hello from the host: ${req.url}\n`));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  /** An HTTP/1.0 request written with bash's /dev/tcp: the image has no curl. */
  const viaProxy = (url: string) =>
    `exec 3<>/dev/tcp/127.0.0.1/3128 && printf "GET ${url} HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3`;

  it('has no network by default: loopback only, the host unreachable', async () => {
    const sb = await provider.create({ key: 'night-3/offline' });
    try {
      const ifaces = await sb.exec("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
      assert.equal(ifaces.stdout.trim(), 'lo');
      const hostAddress = Object.values(os.networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
      assert.ok(hostAddress, 'the host has an external IPv4 address to try');
      const r = await sb.exec(`bash -c 'echo > /dev/tcp/${hostAddress}/${port}'`, { timeoutMs: 20_000 });
      assert.notEqual(r.exitCode, 0);
      assert.match(r.stderr, /unreachable/i);
      assert.equal((await sb.exec('echo "$HTTP_PROXY"')).stdout.trim(), '');
    } finally {
      await sb.kill();
    }
  });

  it('reaches listed hosts through the egress proxy and nothing else', async () => {
    const sb = await provider.create({ key: 'night-3/allow', network: { allow: ['127.0.0.1'] } });
    try {
      assert.equal((await sb.exec('echo "$HTTP_PROXY"')).stdout.trim(), 'http://127.0.0.1:3128');
      const ok = await sb.exec(`bash -c '${viaProxy(`http://127.0.0.1:${port}/allowed`)}'`, { timeoutMs: 20_000 });
      assert.match(ok.stdout, /^HTTP\/1\.1 200/);
      assert.match(ok.stdout, /hello from the host: \/allowed/);
      const refused = await sb.exec(`bash -c '${viaProxy(`http://localhost:${port}/`)}'`, { timeoutMs: 20_000 });
      assert.match(refused.stdout, /^HTTP\/1\.1 403/);
      assert.match(refused.stdout, /not in this sandbox's network allowlist/);

      // Another worker, knowing only the id, enforces the same list (it is kept in a label).
      const later = await providerWith().connect(sb.id);
      const again = await later.exec(`bash -c '${viaProxy(`http://127.0.0.1:${port}/again`)}'`, { timeoutMs: 20_000 });
      assert.match(again.stdout, /hello from the host: \/again/);
      const socketDir = fs.readdirSync(engine.egressDir).map((d) => path.join(engine.egressDir, d));
      assert.equal(socketDir.length, 1);
      assert.deepEqual(fs.readdirSync(socketDir[0]), [], 'no proxy listens between commands');
      const planted = await sb.exec('touch /run/nightshift/planted');
      assert.notEqual(planted.exitCode, 0, 'the socket directory is read-only inside');
      await sb.kill();
      assert.deepEqual(fs.readdirSync(engine.egressDir), [], 'kill removes the socket directory');
    } finally {
      await sb.kill();
    }
  });
});

describe('docker provider on a real engine: limits', () => {
  it('applies the memory, CPU, process and open-file bounds', async () => {
    const sb = await provider.create({
      key: 'night-4/limits',
      limits: { memoryMb: 64, cpus: 0.5, processes: 40, openFiles: 256 },
    });
    try {
      const info = await engine.docker.getContainer(sb.id).inspect();
      assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(info.HostConfig.MemorySwap, 64 * 1024 * 1024);
      assert.equal(info.HostConfig.NanoCpus, 0.5e9);
      assert.equal(info.HostConfig.PidsLimit, 40);
      assert.deepEqual(info.HostConfig.CapDrop, ['ALL']);

      // What the kernel enforces, as the container sees it (cgroup v1 or v2 files).
      const seen = await sb.exec(
        'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ' +
          'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; ' +
          'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; ulimit -n',
      );
      const [mem, pids, cpu, nofile] = seen.stdout.trim().split('\n');
      assert.equal(mem, String(64 * 1024 * 1024));
      assert.equal(pids, '40');
      assert.match(cpu, /^50000( 100000)?$/);
      assert.equal(nofile, '256');

      const oom = await sb.exec('head -c 300000000 /dev/zero | tail > /dev/null; echo "tail exit $?"');
      assert.match(oom.stdout, /tail exit 137/, 'the allocation past 64 MiB was killed');
      const forks = await sb.exec('for i in $(seq 60); do sleep 5 & done; wait', { timeoutMs: 30_000 });
      assert.match(forks.stderr, /fork|Resource temporarily unavailable/i);
      assert.equal((await sb.exec('echo still here')).stdout, 'still here\n', 'the sandbox survives its limits');
      const mount = await sb.exec('mkdir -p /tmp/m && mount -t tmpfs none /tmp/m');
      assert.notEqual(mount.exitCode, 0, 'no capabilities: mount is refused');
    } finally {
      await sb.kill();
    }
  });
});
