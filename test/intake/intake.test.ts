/**
 * The intake (folder mode) on a real dev server: continuous mode takes a
 * file dropped into pending/ and a task queued by `addTasks` while it runs, and a task in
 * flight survives continue-as-new; files move pending/ -> running/ -> completed/ or
 * failed/; a worker SIGKILLed mid-task leaves nothing stranded in running/, and a file a
 * crash left there is put back and run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  addTasksUpdate,
  INTAKE_WORKFLOW,
  intakeStatusQuery,
  TASK_QUEUE,
  type IntakeInput,
  type IntakeStatus,
} from '../../contract';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { commandRunning, loggedCommand, readLog } from '../helpers/batch';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let env: TestWorkflowEnvironment;
const workers: WorkerProcess[] = [];
before(async () => {
  env = await startDevServer();
});
after(async () => {
  for (const w of workers) await w.kill();
  await env?.teardown();
  // Command tasks ran in sandboxes: the sandbox runtime's proxies would keep the process alive.
  await shutdownIsolation();
});

const ls = (root: string, f: string) =>
  existsSync(path.join(root, 'tasks', f)) ? readdirSync(path.join(root, 'tasks', f)).sort() : [];

/** Written beside pending/ and renamed in, as docs/folder-mode.md tells users to. */
function drop(root: string, folder: string, file: string, text: string): void {
  const tmp = path.join(root, 'tasks', `.${file}.tmp`);
  mkdirSync(path.join(root, 'tasks', folder), { recursive: true });
  writeFileSync(tmp, text);
  renameSync(tmp, path.join(root, 'tasks', folder, file));
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await probe();
    if (v) return v;
    if (i > 1200) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startIntake(id: string, input: IntakeInput) {
  return env.client.workflow.start(INTAKE_WORKFLOW, { taskQueue: TASK_QUEUE, workflowId: id, args: [input] });
}

test('continuous: a file dropped in and a task added by update while a task runs across continue-as-new', async () => {
  const config = testConfig(env);
  const root = config.root;
  drop(root, 'pending', 'slow.yaml', `id: slow\ntitle: Slow one\ncommand: '${loggedCommand('slow', 4)}'\n`);
  const worker = await testWorker(env, config);
  const id = uniqueBatchId('nightshift-intake');
  await worker.runUntil(async () => {
    const handle = await startIntake(id, { mode: 'continuous', pollIntervalMs: 200, continueAsNewEveryPolls: 3 });
    try {
      await until('slow in running/', () => ls(root, 'running').includes('slow.yaml') && commandRunning('start slow '));
      // The intake continues as new while slow runs, and the new run still knows it is in flight.
      const s = await until('a continue-as-new with slow in flight', async () => {
        const q = await handle.query(intakeStatusQuery);
        return q.runs >= 2 && q.inFlight.some((t) => t.taskId === 'slow') ? q : undefined;
      });
      assert.equal(s.mode, 'continuous');

      drop(root, 'pending', 'later.yaml', 'id: later\ndepends_on: slow\ncommand: echo later\n');
      drop(root, 'pending', 'broken.yaml', 'id: broken\ncomand: echo typo\n');
      const added = await handle.executeUpdate(addTasksUpdate, {
        args: [{ tasks: [{ id: 'queued', title: 'Queued by update', command: 'echo queued' }] }],
      });
      assert.deepEqual(added, { added: ['queued'] });
      await assert.rejects(
        handle.executeUpdate(addTasksUpdate, { args: [{ tasks: [{ id: 'bad', agent_config: { model: 'gpt-4' } }] }] }),
        (err: { cause?: Error }) => {
          assert.match(
            err.cause?.message ?? '',
            /addTasks tasks\[0\]\.agent_config\.model: unknown model alias "gpt-4"/,
          );
          return true;
        },
      );

      await until('three files completed', () =>
        ['later.yaml', 'queued.yaml', 'slow.yaml'].every((f) => ls(root, 'completed').includes(f)),
      );
      const final = await until('nothing in flight', async () => {
        const q = await handle.query(intakeStatusQuery);
        return q.inFlight.length === 0 && q.recent.length === 3 ? q : undefined;
      });
      assert.deepEqual(ls(root, 'running'), []);
      assert.deepEqual(ls(root, 'pending'), []);
      assert.deepEqual(final.recent.map((r) => `${r.taskId}:${r.status}`).sort(), [
        'later:succeeded',
        'queued:succeeded',
        'slow:succeeded',
      ]);
      // later waited for slow (its dependency), which ran exactly once despite the continue-as-new.
      const slow = final.recent.find((r) => r.taskId === 'slow')!;
      const later = final.recent.find((r) => r.taskId === 'later')!;
      assert.ok(later.startedAt! >= slow.endedAt!, 'later started after slow ended');
      assert.deepEqual(
        readLog(root).map((e) => `${e.kind} ${e.id}`),
        ['start slow', 'end slow'],
      );
      // A file that does not validate goes to failed/ with its problems beside it.
      assert.deepEqual(ls(root, 'failed'), ['broken.yaml', 'broken.yaml.error.txt']);
      assert.match(
        readFileSync(path.join(root, 'tasks', 'failed', 'broken.yaml.error.txt'), 'utf8'),
        /broken\.yaml:2 comand: unknown key "comand"; did you mean "command"\?/,
      );
      assert.ok(final.runs >= 2);
    } finally {
      // A continuous intake never ends by itself.
      await handle.terminate('test over');
    }
  });
});

test('batch: SIGKILL of the worker mid-task strands nothing in running/; a crash leftover is requeued and run', async () => {
  const config = testConfig(env);
  const root = config.root;
  const workerEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', NIGHTSHIFT_ROOT: root };
  drop(root, 'pending', 'crash.yaml', `id: crash\ncommand: '${loggedCommand('crash', 3)}'\n`);
  // Left in running/ by an intake that died: its task is not running anywhere.
  drop(root, 'running', 'stale.yaml', `id: stale\npriority: 9\ncommand: '${loggedCommand('stale', 0)}'\n`);
  drop(root, 'pending', 'failing.yaml', 'id: failing\npriority: 8\ncommand: exit 3\n');

  // Workers of this test are stopped when it ends, so none serves another test's root.
  const first = await spawnWorker(workerEnv);
  workers.push(first);
  try {
    const id = uniqueBatchId('nightshift-intake');
    const handle = await startIntake(id, { mode: 'batch', pollIntervalMs: 200, maxConcurrent: 1 });
    await until('crash started', () => ls(root, 'running').includes('crash.yaml') && commandRunning('start crash '));
    assert.ok(!ls(root, 'running').includes('stale.yaml'), 'the stale file was taken out of running/ at startup');
    await first.kill('SIGKILL');
    // Its task is still running as far as Temporal knows (a worker will pick it up), so its file stays in running/.
    assert.equal((await env.client.workflow.getHandle(`${id}/crash`).describe()).status.name, 'RUNNING');
    assert.ok(ls(root, 'running').includes('crash.yaml'));

    workers.push(await spawnWorker(workerEnv));
    const result: IntakeStatus = await handle.result();
    assert.equal(result.state, 'completed');
    assert.deepEqual(
      result.recent.map((r) => `${r.taskId}:${r.status}`),
      ['crash:succeeded', 'failing:failed', 'stale:succeeded'],
    );
    assert.deepEqual(ls(root, 'running'), []);
    assert.deepEqual(ls(root, 'pending'), []);
    assert.deepEqual(ls(root, 'completed'), ['crash.yaml', 'stale.yaml']);
    assert.deepEqual(ls(root, 'failed'), ['failing.yaml', 'failing.yaml.error.txt']);
    assert.match(
      readFileSync(path.join(root, 'tasks', 'failed', 'failing.yaml.error.txt'), 'utf8'),
      /failed: command exited with 3/,
    );
    assert.ok(
      readLog(root).some((e) => e.id === 'stale' && e.kind === 'end'),
      'the requeued task ran',
    );
  } finally {
    for (const w of workers) await w.kill();
  }
});

test('once: only the best-priority ready task runs; the rest stay pending', async () => {
  const config = testConfig(env);
  const root = config.root;
  drop(root, 'pending', 'a.yaml', 'id: a\npriority: 5\ncommand: echo a\n');
  drop(root, 'pending', 'b.yaml', 'id: b\npriority: 1\ncommand: echo b\n');
  drop(root, 'pending', 'c.yaml', 'id: c\npriority: 0\ndepends_on: a\ncommand: echo c\n');
  const worker = await testWorker(env, config);
  const result: IntakeStatus = await worker.runUntil(async () =>
    (await startIntake(uniqueBatchId('nightshift-intake'), { mode: 'once', pollIntervalMs: 200 })).result(),
  );
  assert.deepEqual(
    result.recent.map((r) => `${r.taskId}:${r.status}`),
    ['b:succeeded'],
  );
  assert.deepEqual(ls(root, 'pending'), ['a.yaml', 'c.yaml']);
  assert.deepEqual(ls(root, 'completed'), ['b.yaml']);
});
