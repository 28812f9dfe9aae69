/**
 * The disk bound is on by default where it can be: each sandbox gets its own size-capped
 * volume on a loop device made on demand, so more sandboxes than the kernel's boot-time
 * `max_loop` all get one, and every device is freed with its sandbox. Where volumes cannot
 * be made (a worker that is not root) the probe says why instead of pretending.
 * Scratch space is outside /tmp.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createReportActivities } from '../../activities/night/report';
import { diskQuotaSupport, isMountPoint, sweepOrphanVolumes } from '../../sandbox/disk-volume';
import { createLocalProvider, shutdownIsolation, type LocalSandbox } from '../../sandbox/local';
import { createSandboxProvider } from '../../sandbox/index';
import { DEFAULT_DISK_MB } from '../../sandbox/types';
import { scratchDir } from '../helpers/outside-tmp';

/** Loop devices backed by a file under `dir`. */
function loopsUnder(dir: string): string[] {
  return execFileSync('losetup', ['-a'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir));
}

describe('disk quota by default', () => {
  const root = scratchDir('disk-quota');
  const sandboxesDir = path.join(root, '.nightshift', 'sandboxes');
  const provider = createLocalProvider({ root: sandboxesDir, defaultDiskMb: 48 });
  const made: LocalSandbox[] = [];
  after(async () => {
    for (const sb of made) await sb.kill().catch(() => false);
    await shutdownIsolation();
  });

  it(
    'a sandbox that names no disk size gets the default volume, and a write past it fails while the worker lives on',
    { timeout: 120_000 },
    async () => {
      const sb = (await provider.create({ key: 'disk-quota/default' })) as LocalSandbox;
      made.push(sb);
      assert.equal(sb.diskUnbounded, undefined);
      assert.ok(isMountPoint(path.dirname(sb.workspaceDir)), 'the workspace lives on its own volume');
      const r = await sb.exec('{ head -c 100000000 /dev/zero > big; } 2>&1; echo "exit=$?"; df -m . | tail -1');
      assert.match(r.stdout, /No space left on device/);
      assert.match(r.stdout, /exit=1/);
      // The bound is the volume's, not the host's: the host disk still takes writes.
      fs.writeFileSync(path.join(root, 'host-still-writable'), 'yes');
      const again = await sb.exec('rm -f big && echo small > small && cat small');
      assert.equal(again.stdout.trim(), 'small');
    },
  );

  it(
    'more sandboxes than max_loop each get a volume, and killing them frees every loop device',
    { timeout: 300_000 },
    async () => {
      const maxLoop = Number(fs.readFileSync('/sys/module/loop/parameters/max_loop', 'utf8').trim()) || 8;
      const many: LocalSandbox[] = [];
      for (let i = 0; i < maxLoop + 2; i++) {
        const sb = (await provider.create({ key: `disk-quota/many-${i}` })) as LocalSandbox;
        many.push(sb);
        made.push(sb);
      }
      for (const sb of many) {
        assert.equal(sb.diskUnbounded, undefined, sb.diskUnbounded);
        assert.ok(isMountPoint(path.dirname(sb.workspaceDir)), `${sb.id} has no volume`);
      }
      assert.equal(
        new Set(
          loopsUnder(sandboxesDir)
            .filter((l) => l.includes('many'))
            .map((l) => l.split(':')[0]),
        ).size,
        maxLoop + 2,
      );
      for (const sb of many) assert.equal(await sb.kill(), true);
      // umount -l frees the device once the last user is gone; give the kernel a moment.
      for (let i = 0; i < 50 && loopsUnder(sandboxesDir).some((l) => l.includes('many')); i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        loopsUnder(sandboxesDir).filter((l) => l.includes('many')),
        [],
      );
    },
  );

  it(
    'discarding a sandbox by key frees its volume and loop device, also when it was not mounted',
    { timeout: 120_000 },
    async () => {
      const mounted = (await provider.create({ key: 'disk-quota/discard-mounted' })) as LocalSandbox;
      const unmounted = (await provider.create({ key: 'disk-quota/discard-unmounted' })) as LocalSandbox;
      made.push(mounted, unmounted);
      // As after a reboot: the image is there, nothing is mounted.
      execFileSync('umount', [path.dirname(unmounted.workspaceDir)]);
      assert.equal(isMountPoint(path.dirname(unmounted.workspaceDir)), false);
      assert.equal(await provider.discard!('disk-quota/discard-mounted'), true);
      assert.equal(await provider.discard!('disk-quota/discard-unmounted'), true);
      for (const sb of [mounted, unmounted]) assert.equal(fs.existsSync(sb.dir), false, `${sb.id} is gone`);
      for (let i = 0; i < 50 && loopsUnder(sandboxesDir).some((l) => l.includes('discard')); i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        loopsUnder(sandboxesDir).filter((l) => l.includes('discard')),
        [],
      );
    },
  );

  it(
    'sandboxes copied from one formatted template share nothing: what one writes, the next never sees',
    { timeout: 120_000 },
    async () => {
      const first = (await provider.create({ key: 'disk-quota/template-a' })) as LocalSandbox;
      made.push(first);
      await first.exec(
        'head -c 3000000 /dev/urandom > secret.bin && mkdir -p "$HOME/.cache" && echo token > "$HOME/.cache/t"',
      );
      const template = path.join(sandboxesDir, '.volume-template-48.img');
      const templateBlocks = fs.statSync(template).blocks;
      const second = (await provider.create({ key: 'disk-quota/template-b' })) as LocalSandbox;
      made.push(second);
      assert.notEqual(
        fs.statSync(path.join(first.dir, 'disk.img')).ino,
        fs.statSync(path.join(second.dir, 'disk.img')).ino,
      );
      const seen = await second.exec('ls -A . "$HOME" "$TMPDIR"; df -m --output=used . | tail -1');
      assert.doesNotMatch(seen.stdout, /secret\.bin|\.cache/);
      assert.ok(Number(seen.stdout.trim().split('\n').pop()) < 3, `the second volume starts empty: ${seen.stdout}`);
      assert.equal(fs.statSync(template).blocks, templateBlocks, 'the template is never written through a sandbox');
      // Someone cleans the sandboxes directory under the running worker: the next volume is still bounded.
      fs.rmSync(template);
      const third = (await provider.create({ key: 'disk-quota/template-c' })) as LocalSandbox;
      made.push(third);
      assert.equal(third.diskUnbounded, undefined);
      assert.ok(isMountPoint(path.dirname(third.workspaceDir)), 'the third sandbox has its own volume');
      assert.ok(fs.existsSync(template), 'the template was made again');
    },
  );

  it('the worker’s provider gives its sandboxes the 10 GiB default', { timeout: 60_000 }, async () => {
    const workerProvider = createSandboxProvider(
      { provider: 'local' },
      { localRoot: path.join(root, 'worker-sandboxes') },
    );
    const sb = (await workerProvider.create({ key: 'disk-quota/worker' })) as LocalSandbox;
    made.push(sb);
    assert.equal(sb.diskUnbounded, undefined);
    const size = Number((await sb.exec('df -m --output=size . | tail -1')).stdout.trim());
    assert.ok(size > DEFAULT_DISK_MB * 0.9 && size <= DEFAULT_DISK_MB, `volume of ${size} MiB`);
    // Sparse: the image holds only what was written.
    assert.ok(fs.statSync(path.join(sb.dir, 'disk.img')).blocks * 512 < 64 * 1024 * 1024);
  });

  it('a sandbox’s own disk size wins over the default', async () => {
    const sb = (await provider.create({ key: 'disk-quota/own', limits: { diskMb: 96 } })) as LocalSandbox;
    made.push(sb);
    const size = Number((await sb.exec('df -m --output=size . | tail -1')).stdout.trim());
    assert.ok(size > 64 && size <= 96, `volume of ${size} MiB`);
  });

  it(
    'the start-up sweep takes only volumes whose holders are all dead, and the next open mounts them again',
    { timeout: 120_000 },
    async () => {
      const own = (await provider.create({ key: 'disk-quota/sweep-live' })) as LocalSandbox;
      const orphan = (await provider.create({ key: 'disk-quota/sweep-dead' })) as LocalSandbox;
      const unrecorded = (await provider.create({ key: 'disk-quota/sweep-unrecorded' })) as LocalSandbox;
      made.push(own, orphan, unrecorded);
      const volumeOf = (sb: LocalSandbox) => path.dirname(sb.workspaceDir);
      // The orphan's only holder becomes a process that has exited, with the start time it had.
      const holders = `${volumeOf(orphan)}.holders`;
      const [self] = fs.readdirSync(holders);
      const exited = spawnSync('true').pid!;
      fs.renameSync(path.join(holders, self), path.join(holders, self.replace(`.${process.pid}.`, `.${exited}.`)));
      // As a worker of an older version leaves it: mounted, with no record at all.
      fs.rmSync(`${volumeOf(unrecorded)}.holders`, { recursive: true });
      const loop = loopsUnder(orphan.dir);
      assert.equal(loop.length, 1, 'the orphan volume is on a loop device');

      assert.deepEqual(await sweepOrphanVolumes(sandboxesDir), [volumeOf(orphan)]);
      assert.equal(isMountPoint(volumeOf(orphan)), false, 'the orphan volume is unmounted');
      for (let i = 0; i < 50 && loopsUnder(orphan.dir).length; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(loopsUnder(orphan.dir), [], 'and its loop device freed');
      assert.ok(isMountPoint(volumeOf(own)), 'a live holder keeps its volume');
      assert.ok(isMountPoint(volumeOf(unrecorded)), 'a volume nobody recorded is left alone');

      const reopened = (await provider.connect(orphan.id)) as LocalSandbox;
      assert.ok(isMountPoint(volumeOf(reopened)), 'opening the sandbox mounts its volume again');
      assert.equal((await reopened.exec('echo back > f && cat f')).stdout.trim(), 'back');
    },
  );

  it('a worker whose probe failed says so in the notes of every report it writes', async () => {
    // A directory that cannot be made (below a regular file): the probe fails here even as root.
    const blocker = path.join(scratchDir('disk-quota-blocked'), 'a-file');
    fs.writeFileSync(blocker, '');
    const probe = await diskQuotaSupport(path.join(blocker, 'sandboxes'));
    assert.equal(probe.ok, false);
    const reportRoot = scratchDir('disk-quota-report');
    const report = await createReportActivities({ root: reportRoot }).writeReport({
      status: {
        batchId: 'nightshift-2026-11-29',
        date: '2026-11-29',
        state: 'completed',
        startedAt: Date.now(),
        tasks: [],
      },
    });
    for (const file of [report.markdown, report.json]) {
      assert.match(
        fs.readFileSync(path.join(reportRoot, file), 'utf8'),
        /local sandbox disks are NOT bounded on this worker \(/,
      );
    }
  });

  it('where volumes cannot be made (not root), the probe says why and warns', { timeout: 120_000 }, () => {
    const dir = scratchDir('disk-quota-nobody');
    fs.chmodSync(dir, 0o777);
    const script = `import('${path.resolve(__dirname, '../../sandbox/disk-volume.ts')}').then(async (m) => { m = m.diskQuotaSupport ? m : m.default; console.log(JSON.stringify(await m.diskQuotaSupport(${JSON.stringify(dir)}))); })`;
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '-e', script],
      { encoding: 'utf8', cwd: path.resolve(__dirname, '../..'), timeout: 60_000 },
    );
    const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean; why?: string };
    assert.equal(result.ok, false, r.stdout + r.stderr);
    assert.match(result.why ?? '', /mount|loop|permission|root/i);
    assert.match(r.stderr, /WARNING: local sandbox disks are NOT bounded on this worker/);
    assert.deepEqual(fs.readdirSync(dir), [], 'the probe cleaned up after itself');
  });
});
