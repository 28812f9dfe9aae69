/**
 * bench:command: where one instant command task's time goes on this worker. Runs the real
 * `runCommandTask` activity (the worker's local provider, with its default disk volume
 * where this host supports one) for `true`, N times, C at once, and prints each phase's
 * median and p95: every sandbox create and kill the activity makes, the command itself,
 * keepWork, and the whole activity. Then the disk volume's own steps (make the image,
 * mount it, unmount and delete it), called directly, and loop devices before and after.
 *
 *   npm run bench:command [-- --tasks 20 --concurrency 1]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../activities/task/sandbox-steps';
import { createCommandActivities } from '../activities/task/command';
import { FileTranscriptStore } from '../activities/task/transcripts';
import { createSandboxProvider } from '../sandbox';
import { createVolumeImage, diskQuotaSupport, ensureVolumeMounted, unmountVolume } from '../sandbox/disk-volume';
import { shutdownIsolation } from '../sandbox/local';
import { routeSandboxes } from '../sandbox/router';
import { DEFAULT_DISK_MB, type Sandbox, type SandboxProvider } from '../sandbox/types';
import { parseBatchYaml } from '../taskfile/load';
import { machine, median, percentile } from './stats';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TASKS = arg('tasks', 20);
const CONCURRENCY = arg('concurrency', 1);

/** Durations by phase name, in the order phases were first seen. */
class Phases {
  readonly ms = new Map<string, number[]>();
  async time<T>(name: string, f: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await f();
    } finally {
      const list = this.ms.get(name) ?? [];
      list.push(performance.now() - t);
      this.ms.set(name, list);
    }
  }
  lines(): string[] {
    return [...this.ms].map(
      ([name, xs]) =>
        `  ${name.padEnd(34)} median ${median(xs).toFixed(1).padStart(8)} ms · p95 ${percentile(xs, 95).toFixed(1).padStart(8)} ms · n=${xs.length}`,
    );
  }
}

/**
 * The provider with each call timed, named by how many times this task's key has been
 * created so far: the activity's first create only discards what an earlier attempt left.
 */
function timedProvider(inner: SandboxProvider, phases: Phases): SandboxProvider {
  const creates = new Map<string, number>();
  const wrap = (s: Sandbox, label: string): Sandbox =>
    Object.assign(Object.create(s) as Sandbox, {
      exec: (cmd: string, o?: Parameters<Sandbox['exec']>[1]) => phases.time('exec `true`', () => s.exec(cmd, o)),
      kill: () => phases.time(`kill (${label})`, () => s.kill()),
    });
  return {
    async create(o) {
      const n = (creates.get(o.key) ?? 0) + 1;
      creates.set(o.key, n);
      const label = `sandbox ${n}`;
      return wrap(await phases.time(`create (${label})`, () => inner.create(o)), label);
    },
    connect: (id) => inner.connect(id),
    ...(inner.discard ? { discard: (key: string) => phases.time('discard (by key)', () => inner.discard!(key)) } : {}),
  };
}

/** Loop devices backed by a file under `dir` (other work on the machine makes its own). */
const loopDevicesUnder = (dir: string) =>
  execFileSync('losetup', ['-a'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir)).length;

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-command-'));
  const sandboxesDir = path.join(root, '.nightshift', 'sandboxes');
  const loopDevices = () => loopDevicesUnder(root);
  const loopsBefore = loopDevices();
  const quota = await diskQuotaSupport(sandboxesDir);
  const phases = new Phases();
  const sandboxes = routeSandboxes({
    local: timedProvider(createSandboxProvider({ provider: 'local' }, { localRoot: sandboxesDir }), phases),
  });
  const agent = createAgentActivities({
    config: { root },
    sandboxes,
    transcripts: new FileTranscriptStore({ dir: path.join(root, '.nightshift', 'transcripts') }),
  });
  const { runCommandTask } = createCommandActivities({
    config: { root },
    sandboxes,
    keepWork: (input) => phases.time('keepWork', () => new MockActivityEnvironment().run(agent.keepWork, input)),
  });
  const task = parseBatchYaml('tasks:\n  - id: instant\n    command: "true"\n', 'bench.yaml').tasks[0];

  // The first command of a process starts the isolation layer once; measured apart.
  const warmStart = performance.now();
  await new MockActivityEnvironment().run(runCommandTask, { workflowId: 'bench-command/warm-up', task });
  const warmMs = performance.now() - warmStart;
  phases.ms.clear();

  const wallStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, TASKS) }, async () => {
      while (next < TASKS) {
        const i = next++;
        const r = await phases.time(
          'runCommandTask (whole activity)',
          () =>
            new MockActivityEnvironment().run(runCommandTask, {
              workflowId: `bench-command/t${i}`,
              task,
            }) as ReturnType<typeof runCommandTask>,
        );
        if (r.exitCode !== 0) throw new Error(`task ${i} exited ${r.exitCode}: ${r.outputTail}`);
      }
    }),
  );
  const wallMs = performance.now() - wallStart;
  const loopsAfterTasks = loopDevices();

  // The volume's own steps, one sandbox's worth at a time, at the worker's default size.
  const volume = new Phases();
  const allocatedKiB: number[] = [];
  if (quota.ok) {
    for (let i = 0; i < Math.min(TASKS, 10); i++) {
      const image = path.join(root, `raw-${i}.img`);
      const mount = path.join(root, `raw-${i}`);
      await volume.time(`make image (${DEFAULT_DISK_MB} MiB)`, () => createVolumeImage(image, DEFAULT_DISK_MB));
      allocatedKiB.push(fs.statSync(image).blocks / 2);
      await volume.time('mount', () => ensureVolumeMounted(image, mount));
      await volume.time('unmount + delete', async () => {
        await unmountVolume(mount);
        await fs.promises.rm(image, { force: true });
        await fs.promises.rm(mount, { recursive: true, force: true });
      });
    }
  }
  await shutdownIsolation();
  // umount -l frees a loop device once the kernel lets go of it: wait a moment before counting.
  let loopsAtEnd = loopDevices();
  for (let i = 0; i < 50 && loopsAtEnd > loopsBefore; i++) {
    await new Promise((r) => setTimeout(r, 100));
    loopsAtEnd = loopDevices();
  }
  fs.rmSync(root, { recursive: true, force: true });

  console.log(
    [
      `bench:command · ${new Date().toISOString()} · ${machine()} · load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
      `${TASKS} command tasks (\`true\`), ${CONCURRENCY} at once; disk volume ${quota.ok ? `on (${DEFAULT_DISK_MB} MiB)` : `off: ${quota.why}`}`,
      `first task of the process  ${warmMs.toFixed(1)} ms`,
      `wall                       ${(wallMs / 1000).toFixed(2)} s (${(wallMs / TASKS).toFixed(1)} ms a task)`,
      'activity phases:',
      ...phases.lines(),
      ...(quota.ok
        ? [
            'disk volume alone (sequential):',
            ...volume.lines(),
            `  image allocated after mkfs       median ${median(allocatedKiB).toFixed(0)} KiB`,
          ]
        : []),
      `loop devices               ${loopsBefore} before · ${loopsAfterTasks} after the tasks · ${loopsAtEnd} at the end`,
    ].join('\n'),
  );
  if (loopsAtEnd > loopsBefore) {
    console.error(`loop devices leaked: ${loopsAtEnd - loopsBefore}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
