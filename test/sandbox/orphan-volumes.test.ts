/**
 * A worker killed with SIGKILL leaves its sandboxes' disk volumes mounted, each on a loop
 * device. The next worker started on the same root unmounts them and frees the devices
 * before it polls, and leaves alone the volume a live process on that root holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { localSandboxRoot } from '../../activities';
import { mountsUnder } from '../../sandbox/disk-volume';
import { createLocalProvider, shutdownIsolation, type LocalSandbox } from '../../sandbox/local';
import { message, toolUse } from '../fakes/anthropic-server';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { agentInput, agentSpec, startAgentTask } from '../agent/helpers';
import { remote } from '../delivery/helpers';
import { removeTree } from '../helpers/mounts';
import { devServerForFile, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const server = devServerForFile();

/** The file behind loop device `/dev/loopN`, or undefined once the device is free. */
function backingFile(device: string): string | undefined {
  try {
    return readFileSync(`/sys/block/${path.basename(device)}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const v = probe();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

test(
  "a new worker unmounts the volumes a killed worker left and frees their loop devices, not a live holder's",
  { timeout: 300_000 },
  async () => {
    const config = testConfig(server.env);
    const sandboxes = localSandboxRoot(config);
    // The live holder: this process, opening a sandbox on the same root as a second worker would.
    const live = (await createLocalProvider({ root: sandboxes, defaultDiskMb: 48 }).create({
      key: 'orphan-volumes/live',
    })) as LocalSandbox;
    const liveVolume = path.dirname(live.workspaceDir);
    assert.ok(
      mountsUnder(sandboxes).some((m) => m.mountPoint === liveVolume),
      'the live sandbox has its own volume',
    );

    // The task writes a file and then waits on its model: the sandbox is open and idle when the worker dies.
    const fake = await startFakeAnthropic({
      byTurn: (turn) =>
        turn === 1
          ? message([toolUse('tu_w', 'write_file', { path: 'note.txt', content: 'here\n' })])
          : { status: 0, hang: true },
    });
    const vars = {
      NIGHTSHIFT_ROOT: config.root,
      TEMPORAL_ADDRESS: server.env.address,
      TEMPORAL_NAMESPACE: 'default',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: fake.url,
    };
    const workers: WorkerProcess[] = [];
    const input = agentInput(agentSpec({ id: 'orphan', repo: remote() }), { hostScheduleToStartMs: 600_000 });
    const handle = await startAgentTask(server.env, input);
    try {
      workers.push(await spawnWorker(vars));
      const dead = await until('the task sandbox volume with the written file', () =>
        mountsUnder(sandboxes).find(
          (m) => m.mountPoint !== liveVolume && existsSync(path.join(m.mountPoint, 'workspace', 'note.txt')),
        ),
      );
      const image = backingFile(dead.source);
      assert.ok(image, `the task volume is on a loop device (${dead.source})`);
      await workers[0].kill('SIGKILL');
      assert.ok(
        mountsUnder(sandboxes).some((m) => m.mountPoint === dead.mountPoint),
        'SIGKILL left the volume mounted',
      );

      workers.push(await spawnWorker(vars));
      assert.match(workers[1].output(), /unmounted 1 sandbox volume left by dead workers/);
      assert.ok(
        !mountsUnder(sandboxes).some((m) => m.mountPoint === dead.mountPoint),
        'the dead worker volume is unmounted',
      );
      // Lazy unmount frees the device once the kernel lets go of it.
      await until('the loop device to be freed', () => (backingFile(dead.source) === image ? undefined : true), 10_000);
      assert.ok(
        mountsUnder(sandboxes).some((m) => m.mountPoint === liveVolume),
        'the live holder volume is still mounted',
      );
      assert.equal((await live.exec('echo still here > f && cat f')).stdout.trim(), 'still here', 'and still usable');
    } finally {
      await handle.terminate('test over').catch(() => undefined);
      for (const w of workers) await w.kill('SIGKILL');
      await fake.close();
      await live.kill().catch(() => false);
      await shutdownIsolation();
      removeTree(sandboxes);
    }
  },
);
