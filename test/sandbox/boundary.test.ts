/**
 * The OS boundary of the local sandbox, with its scratch NIGHTSHIFT_ROOT outside /tmp (as a
 * real root such as /data would be): what the agent's bash can see, reach and use up.
 * Every attack also checks the host is as it was.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyViolation } from '../../common/errors';
import { isMountPoint } from '../../sandbox/disk-volume';
import { createLocalProvider, type LocalSandbox } from '../../sandbox/local';
import { NIGHTSHIFT_CHECKOUT } from '../../common/checkout';
import { ETC_ALLOWLIST, shutdownIsolation } from '../../sandbox/os-isolation';
import { cgroupBases } from '../../sandbox/resource-cgroup';
import { processesMatching } from './helpers';

const nightshiftRoot = `/var/lib/nightshift-test-${process.pid}`;
const ROOT_SECRET = 'GITHUB_TOKEN=ghp_boundary5ecret';

describe('local sandbox boundary (root outside /tmp)', () => {
  const provider = createLocalProvider({ root: path.join(nightshiftRoot, '.nightshift', 'sandboxes') });
  let sb: LocalSandbox;
  let other: LocalSandbox;

  before(async () => {
    fs.mkdirSync(nightshiftRoot, { recursive: true });
    fs.writeFileSync(path.join(nightshiftRoot, '.env'), `${ROOT_SECRET}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(nightshiftRoot, 'tasks'), { recursive: true });
    fs.writeFileSync(path.join(nightshiftRoot, 'tasks', 'night.yaml'), 'webhook: https://hooks.example/secret-hook\n');
    sb = (await provider.create({ key: 'boundary/main', envs: { ALLOWED_VAR: 'visible' } })) as LocalSandbox;
    other = (await provider.create({ key: 'boundary/other' })) as LocalSandbox;
    fs.writeFileSync(path.join(other.workspaceDir, 'theirs.txt'), 'other-sandbox-data');
  });
  after(async () => {
    await sb?.kill();
    await other?.kill();
    await shutdownIsolation();
    fs.rmSync(nightshiftRoot, { recursive: true, force: true });
  });

  it('sees none of the root, other sandboxes, the checkout or host data directories', async () => {
    const probes = [
      `cat ${nightshiftRoot}/.env`,
      `cat ${nightshiftRoot}/tasks/night.yaml`,
      `ls -A ${nightshiftRoot}`,
      `cat ${other.workspaceDir}/theirs.txt`,
      `cat ${NIGHTSHIFT_CHECKOUT}/package.json`,
      'ls -A /root /home /srv /opt /mnt /data /media /boot /sys',
      'ls -A /var/lib',
      'cat /etc/shadow /etc/gshadow /etc/ssh/sshd_config /etc/npmrc /etc/pip.conf /etc/machine-id',
    ];
    const r = await sb.exec(probes.map((p) => `${p} 2>&1; echo "--- $?"`).join('\n'));
    for (const leaked of [
      'ghp_boundary5ecret',
      'secret-hook',
      'other-sandbox-data',
      '"name": "nightshift"',
      'sandboxing',
      'skills',
    ]) {
      assert.ok(!r.stdout.includes(leaked), `leaked ${leaked}:\n${r.stdout}`);
    }
    // Every probe failed, except `ls /var/lib`, which shows only the path down to the sandbox.
    const codes = [...r.stdout.matchAll(/^--- (\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(codes.length, probes.length);
    codes.forEach((code, i) => {
      if (probes[i] === 'ls -A /var/lib' || probes[i].startsWith(`ls -A ${nightshiftRoot}`)) return;
      assert.notEqual(code, 0, `${probes[i]} succeeded:\n${r.stdout}`);
    });
    const varLib = await sb.exec('ls -A /var/lib; ls -A /var/lib/*; ls -A /var/lib/*/.nightshift/sandboxes');
    assert.deepEqual(varLib.stdout.trim().split('\n'), [path.basename(nightshiftRoot), '.nightshift', sb.id]);
    assert.equal(fs.readFileSync(path.join(nightshiftRoot, '.env'), 'utf8'), `${ROOT_SECRET}\n`);
    // The sandbox's PID 1 (bubblewrap) was started with nothing of the worker's environment.
    const init = await sb.exec('tr "\\0" "\\n" < /proc/1/environ');
    for (const line of init.stdout.split('\n').filter(Boolean)) assert.match(line, /^(PATH|PWD|SHLVL|_)=/);
  });

  it('the whole view is the allowlist: top level, /etc, /dev', async () => {
    const r = await sb.exec('ls -A /; echo ---; ls -A /etc; echo ---; ls -A /dev');
    const [top, etc, dev] = r.stdout.split('---\n').map((s) => s.trim().split('\n').filter(Boolean));
    for (const entry of top)
      assert.ok(
        ['bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'sbin', 'tmp', 'usr', 'var'].includes(entry),
        `unexpected /${entry}`,
      );
    for (const entry of etc) assert.ok([...ETC_ALLOWLIST, 'mtab'].includes(entry), `unexpected /etc/${entry}`);
    assert.ok(!etc.includes('shadow') && !etc.includes('ssh'));
    for (const entry of dev)
      assert.ok(
        [
          'console',
          'core',
          'fd',
          'full',
          'mqueue',
          'null',
          'ptmx',
          'pts',
          'random',
          'shm',
          'stderr',
          'stdin',
          'stdout',
          'tty',
          'urandom',
          'zero',
        ].includes(entry),
        `unexpected /dev/${entry}`,
      );
    const writes = await sb.exec(
      'echo x > /etc/pwned; echo x > /usr/pwned; mkdir /pwned; echo x > /var/pwned; echo done',
    );
    assert.equal((writes.stderr.match(/Read-only file system/g) ?? []).length, 4, writes.stderr);
  });

  it('host-wide kernel knobs stay read-only for root inside (core_pattern, sysrq, sysctls, keys)', async () => {
    const corePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    // Writing the current value back would be harmless if it got through.
    const r = await sb.exec(
      [
        'v=$(cat /proc/sys/kernel/core_pattern); printf "%s\\n" "$v" > /proc/sys/kernel/core_pattern && echo CORE_PATTERN_WRITTEN',
        'v=$(cat /proc/sys/vm/swappiness); echo "$v" > /proc/sys/vm/swappiness && echo SYSCTL_WRITTEN',
        '[ -w /proc/sysrq-trigger ] && echo SYSRQ_WRITABLE',
        // Nor from a nested user namespace, where umount or a fresh procfs would unveil them.
        'unshare -Um sh -c "umount /proc/sys || mount -t proc proc /tmp" 2>/dev/null && echo UNVEILED',
        'unshare -Urm sh -c "echo core > /proc/sys/kernel/core_pattern" 2>/dev/null && echo NESTED_WRITE',
        'cat /proc/keys /proc/key-users 2>/dev/null | head -1',
        'echo end',
      ].join('\n'),
    );
    assert.equal(r.stdout, 'end\n', r.stdout);
    assert.equal((r.stderr.match(/Read-only file system/g) ?? []).length, 2, r.stderr);
    assert.equal(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern);
  });

  it('the kernel keyrings of the host root are out of reach (seccomp)', async () => {
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0), by number on x86-64 and arm64.
    const nr = process.arch === 'arm64' ? 219 : 250;
    const probe = `python3 -c "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = libc.syscall(${nr}, 0, -4, 0); print(r, os.strerror(ctypes.get_errno()) if r < 0 else 'ok')"`;
    const host = execFileSync('/bin/sh', ['-c', probe], { encoding: 'utf8' });
    assert.match(host, /^\d+ ok$/m, 'the host root has a user keyring to protect');
    const r = await sb.exec(probe);
    assert.equal(r.stdout, '-1 Operation not permitted\n', r.stderr);
  });

  it('git, rg, python3 and node work inside', async () => {
    const r = await sb.exec(
      'git --version && rg --version | head -1 && python3 -c "print(6*7)" && node -e "console.log(process.platform)" && echo hi > f.txt && rg -c hi f.txt',
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^git version .*\nripgrep .*\n42\nlinux\n1\n$/);
  });

  it('host SysV shared memory and message queues are out of reach', async () => {
    const shm = execFileSync('ipcmk', ['-M', '4096'], { encoding: 'utf8' }).match(/(\d+)\s*$/)?.[1];
    const queue = execFileSync('ipcmk', ['-Q'], { encoding: 'utf8' }).match(/(\d+)\s*$/)?.[1];
    assert.ok(shm && queue);
    try {
      const r = await sb.exec(`ipcs -m -q; ipcrm -m ${shm}; echo "shm=$?"; ipcrm -q ${queue}; echo "queue=$?"`);
      assert.ok(!new RegExp(`\\b(${shm}|${queue})\\b.*root`).test(r.stdout), r.stdout);
      assert.match(r.stdout, /shm=1/);
      assert.match(r.stdout, /queue=1/);
      const host = execFileSync('ipcs', ['-m', '-q'], { encoding: 'utf8' });
      assert.match(host, new RegExp(`\\b${shm}\\b`), 'the host segment is still there');
      assert.match(host, new RegExp(`\\b${queue}\\b`), 'the host queue is still there');
    } finally {
      execFileSync('ipcrm', ['-m', shm, '-q', queue]);
    }
  });

  it('a repo-less workspace cannot get a .git, and none is left on the host', async () => {
    assert.ok(!fs.existsSync(path.join(sb.workspaceDir, '.git')));
    const r = await sb.exec(
      'git init -q . ; mkdir .git/hooks; rm -f .git; mv .git x; echo "[core]" > .git/config; ls -la .git; echo end',
    );
    assert.match(r.stderr, /Read-only file system|Device or resource busy|Not a directory/);
    assert.ok(!fs.existsSync(path.join(sb.workspaceDir, '.git')), 'no placeholder or repository left behind');
    assert.ok(!fs.existsSync(path.join(sb.workspaceDir, 'x')));
    await assert.rejects(sb.writeFile('.git/config', '[core]\n'), PolicyViolation);
    // A symlinked .git (which bubblewrap would follow on the host) is refused outright.
    fs.symlinkSync('/etc', path.join(sb.workspaceDir, '.git'));
    try {
      await assert.rejects(sb.exec('true'), (e: unknown) => e instanceof PolicyViolation && /symlink/.test(e.message));
    } finally {
      fs.unlinkSync(path.join(sb.workspaceDir, '.git'));
    }
  });

  it('the environment is exactly PATH, HOME, TMPDIR, LANG, the allowlist and what bash sets', async () => {
    const names = (out: string) =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('=')[0])
        .sort();
    const r = await sb.exec('env');
    assert.deepEqual(names(r.stdout), ['ALLOWED_VAR', 'HOME', 'LANG', 'PATH', 'PWD', 'SHLVL', 'TMPDIR', '_']);
    const net = (await provider.create({
      key: 'boundary/env-net',
      network: { allow: ['example.com'] },
    })) as LocalSandbox;
    try {
      const n = await net.exec('env');
      assert.deepEqual(
        names(n.stdout),
        [
          'HOME',
          'HTTPS_PROXY',
          'HTTP_PROXY',
          'LANG',
          'NO_PROXY',
          'PATH',
          'PWD',
          'SHLVL',
          'TMPDIR',
          '_',
          'http_proxy',
          'https_proxy',
          'no_proxy',
        ].sort(),
      );
      assert.match(n.stdout, /^HTTPS_PROXY=http:\/\/127\.0\.0\.1:3128$/m, 'no credentials in the proxy URL');
    } finally {
      await net.kill();
    }
  });

  describe('resource limits', () => {
    it('memory: the command is killed, the agent told, the worker lives on', async () => {
      const small = (await provider.create({ key: 'boundary/mem', limits: { memoryMb: 128 } })) as LocalSandbox;
      try {
        const r = await small.exec(`python3 -c "x = b'a' * (400 * 1024 * 1024); print('allocated')"`);
        assert.notEqual(r.exitCode, 0);
        assert.ok(!r.stdout.includes('allocated'));
        assert.match(r.stderr, /killed: out of memory \(limit 128 MiB\)/);
        const next = await small.exec('echo still-here');
        assert.equal(next.stdout, 'still-here\n');
        assert.ok(!/out of memory/.test(next.stderr), 'the note is for the command that hit the limit only');
      } finally {
        await small.kill();
      }
    });

    it('cpu: the sandbox gets its share of a CPU, no more', async () => {
      const slow = (await provider.create({ key: 'boundary/cpu', limits: { cpus: 0.2 } })) as LocalSandbox;
      try {
        // Busy for 1.5 s of wall time; the CPU time it got is what the quota allowed.
        const r = await slow.exec(`python3 -c "
import os, time
end = time.monotonic() + 1.5
while time.monotonic() < end: pass
t = os.times(); print(round((t.user + t.system) / 1.5, 2))"`);
        assert.equal(r.exitCode, 0, r.stderr);
        const share = Number(r.stdout.trim());
        assert.ok(share <= 0.45, `used ${share} of a CPU under a 0.2 quota`);
        const cpu = cgroupBases().cpu;
        if (cpu?.version === 1)
          assert.equal(fs.readFileSync(path.join(cpu.dir, slow.id, 'cpu.cfs_quota_us'), 'utf8').trim(), '20000');
        if (cpu?.version === 2)
          assert.equal(fs.readFileSync(path.join(cpu.dir, slow.id, 'cpu.max'), 'utf8').trim(), '20000 100000');
      } finally {
        await slow.kill();
      }
    });

    it('open files: past the bound, open fails with EMFILE', async () => {
      const few = (await provider.create({ key: 'boundary/files', limits: { openFiles: 128 } })) as LocalSandbox;
      try {
        const r = await few.exec(`ulimit -n; ulimit -n 100000; python3 -c "
fs = []
try:
    for i in range(500): fs.append(open('/dev/null'))
except OSError as e: print('stopped at', len(fs), e.strerror)"`);
        assert.match(r.stdout, /^128\n/);
        assert.match(r.stderr, /Operation not permitted|cannot modify limit/);
        assert.match(r.stdout, /stopped at 1[0-2]\d Too many open files/);
      } finally {
        await few.kill();
      }
    });

    it('disk: a write past the quota gets ENOSPC, the host disk is untouched, kill unmounts', async () => {
      const tiny = (await provider.create({ key: 'boundary/disk', limits: { diskMb: 64 } })) as LocalSandbox;
      const volume = path.dirname(tiny.workspaceDir);
      try {
        assert.equal(tiny.diskUnbounded, undefined);
        assert.ok(isMountPoint(volume));
        const r = await tiny.exec(
          'head -c 200M /dev/zero > big.bin; echo "rc=$?"; head -c 10M /dev/zero > $TMPDIR/t.bin; echo "tmp=$?"',
        );
        assert.match(r.stderr, /No space left on device/);
        assert.match(r.stdout, /rc=1/);
        assert.match(r.stdout, /tmp=1/, 'TMPDIR shares the quota');
        assert.ok(fs.statSync(path.join(tiny.workspaceDir, 'big.bin')).size < 64 * 1024 * 1024);
        const image = fs.statSync(path.join(tiny.dir, 'disk.img'));
        assert.ok(image.blocks * 512 <= 65 * 1024 * 1024, `image uses ${image.blocks * 512} bytes`);
        const again = await tiny.exec('rm big.bin && echo ok > small.txt && cat small.txt');
        assert.equal(again.stdout, 'ok\n', again.stderr);
        // Host-side file tools work on the volume like on any workspace.
        await tiny.writeFile('from-host.txt', 'hello');
        assert.equal(Buffer.from(await tiny.readFile('small.txt')).toString(), 'ok\n');
        // A second worker opening the sandbox reuses the mounted volume.
        const reopened = (await createLocalProvider({
          root: path.join(nightshiftRoot, '.nightshift', 'sandboxes'),
        }).connect(tiny.id)) as LocalSandbox;
        assert.equal((await reopened.exec('cat from-host.txt')).stdout, 'hello');
        assert.equal(
          fs
            .readFileSync('/proc/self/mountinfo', 'utf8')
            .split('\n')
            .filter((l) => l.includes(volume)).length,
          1,
        );
      } finally {
        await tiny.kill();
      }
      assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(volume), 'unmounted after kill');
      assert.ok(!fs.existsSync(tiny.dir));
    });
  });

  it('a SIGKILLed worker leaves no sandbox process, bridge or proxy behind', async () => {
    const marker = '1000.7373';
    const script = path.join(nightshiftRoot, 'worker.ts');
    fs.writeFileSync(
      script,
      [
        `import { createLocalProvider } from ${JSON.stringify(path.join(NIGHTSHIFT_CHECKOUT, 'sandbox', 'local'))};`,
        `const p = createLocalProvider({ root: ${JSON.stringify(path.join(nightshiftRoot, '.nightshift', 'sandboxes'))} });`,
        `void p.create({ key: 'boundary/killed', network: { allow: ['example.com'] } }).then((sb) => {`,
        `  process.stdout.write(sb.id + '\\n');`,
        `  return sb.exec('grep -q ":0C38 00000000:0000 0A" /proc/net/tcp && echo bridged; sleep ${marker}', { onOutput: (c) => process.stdout.write(c) });`,
        `});`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: NIGHTSHIFT_CHECKOUT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('bridged')) resolve();
      });
      child.on('exit', () => reject(new Error(`worker exited early: ${out}`)));
    });
    const id = out.split('\n')[0];
    const pidsBase = cgroupBases().pids?.dir;
    const inCgroup = () =>
      pidsBase
        ? fs
            .readFileSync(path.join(pidsBase, id, 'cgroup.procs'), 'utf8')
            .split('\n')
            .filter(Boolean)
        : [];
    assert.ok(processesMatching(`sleep ${marker}`).length > 0);
    if (pidsBase) assert.ok(inCgroup().length >= 3, 'bwrap, the bridge and the command were running');
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      (processesMatching(`sleep ${marker}`).length > 0 || processesMatching(id).length > 0 || inCgroup().length > 0)
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(processesMatching(`sleep ${marker}`), []);
    assert.deepEqual(processesMatching(id), [], 'no bwrap of the sandbox');
    assert.deepEqual(inCgroup(), [], 'no process left in the sandbox (the socat bridge included)');
    // Only the dead worker's: other test files may run sandboxes with proxies of their own meanwhile.
    assert.deepEqual(processesMatching(`nightshift-egress-${child.pid}-`), [], 'no proxy helper on the host');
    const killed = await provider.connect(id);
    // The next networked command sweeps the dead worker's socket directory.
    const leftBehind = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`nightshift-egress-${child.pid}-`));
    assert.equal(leftBehind().length, 1);
    assert.equal((await killed.exec('echo again')).stdout, 'again\n');
    assert.deepEqual(leftBehind(), []);
    await killed.kill();
  });
});
