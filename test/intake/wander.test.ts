/**
 * The Wander example's tasks dropped into pending/ one at a time, as files arrive in folder
 * mode: wander-001 alone is taken although it triggers tasks not queued yet; wander-004,
 * dropped before its dependencies exist, waits for them (and the intake says for what);
 * all four run in dependency order. The files are tasks/wander/ with the agent's context
 * swapped for a logged command, so the order can be read from the commands' own clocks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { INTAKE_WORKFLOW, intakeStatusQuery, TASK_QUEUE, type IntakeStatus } from '../../contract';
import { SpecError } from '../../common/errors';
import { loadBatchSpec } from '../../taskfile/load';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { loggedCommand, readLog } from '../helpers/batch';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';

const REPO = path.join(__dirname, '..', '..');

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
  await shutdownIsolation();
});

/** tasks/wander/<id>.yaml with its context block replaced by a command that logs its start and end. */
function wanderFile(id: string, seconds: number): string {
  const text = readFileSync(path.join(REPO, 'tasks', 'wander', `${id}.yaml`), 'utf8');
  const swapped = text.replace(/^context:\n(?: {2}.*\n)+/m, `command: '${loggedCommand(id, seconds)}'\n`);
  assert.notEqual(swapped, text, `${id}.yaml has a context block to swap`);
  return swapped;
}

function drop(root: string, file: string, text: string): void {
  const tmp = path.join(root, 'tasks', `.${file}.tmp`);
  mkdirSync(path.join(root, 'tasks', 'pending'), { recursive: true });
  writeFileSync(tmp, text);
  renameSync(tmp, path.join(root, 'tasks', 'pending', file));
}

const ls = (root: string, f: string) =>
  existsSync(path.join(root, 'tasks', f)) ? readdirSync(path.join(root, 'tasks', f)).sort() : [];

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await probe();
    if (v) return v;
    if (i > 1200) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('outside folder mode a trigger_next to an unknown task is an error, and the did-you-mean never names the task itself', async () => {
  const { root } = testConfig(env);
  drop(root, 'wander-001.yaml', wanderFile('wander-001', 0));
  await assert.rejects(loadBatchSpec('tasks/pending/wander-001.yaml', root), (err: SpecError) => {
    assert.deepEqual(
      err.issues.map((i) => i.message),
      ['unknown task id "wander-002"', 'unknown task id "wander-003"'],
    );
    return true;
  });
  const spec = await loadBatchSpec('tasks/pending/wander-001.yaml', root, { unseenTasksWait: true });
  assert.deepEqual(spec.tasks[0].triggerNext, ['wander-002', 'wander-003']);
});

test('the four Wander files dropped into pending/ one at a time run in dependency order', async () => {
  const config = testConfig(env);
  const root = config.root;
  const worker = await testWorker(env, config);
  const id = uniqueBatchId('wander-intake');
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(INTAKE_WORKFLOW, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ mode: 'continuous', pollIntervalMs: 200 }],
    });
    try {
      drop(root, 'wander-001.yaml', wanderFile('wander-001', 3));
      await until('wander-001 running', () => ls(root, 'running').includes('wander-001.yaml'));
      // wander-004 arrives before the tasks it depends on: it waits, and the intake says for what.
      drop(root, 'wander-004.yaml', wanderFile('wander-004', 0));
      const waiting = await until('wander-004 waiting', async () => {
        const s: IntakeStatus = await handle.query(intakeStatusQuery);
        return s.waiting?.find((w) => w.taskId === 'wander-004');
      });
      assert.deepEqual(waiting.unseen, ['wander-002', 'wander-003']);
      drop(root, 'wander-002.yaml', wanderFile('wander-002', 1));
      await until(
        'wander-002 queued or taken',
        () => !ls(root, 'pending').includes('wander-002.yaml') || ls(root, 'running').length > 0,
      );
      drop(root, 'wander-003.yaml', wanderFile('wander-003', 1));

      const files = ['wander-001.yaml', 'wander-002.yaml', 'wander-003.yaml', 'wander-004.yaml'];
      await until('all four completed', () => files.every((f) => ls(root, 'completed').includes(f)));
      const s: IntakeStatus = await handle.query(intakeStatusQuery);
      assert.deepEqual(s.rejected, [], 'no file was rejected for naming a task not queued yet');
      assert.deepEqual(ls(root, 'failed'), []);
      assert.deepEqual(s.waiting, []);

      const log = readLog(root);
      const at = (kind: 'start' | 'end', task: string) => {
        const e = log.find((x) => x.kind === kind && x.id === task);
        assert.ok(e, `${kind} ${task} in the log: ${JSON.stringify(log.map((x) => `${x.kind} ${x.id}`))}`);
        return e.ns;
      };
      assert.ok(at('start', 'wander-002') > at('end', 'wander-001'), 'wander-002 after wander-001');
      assert.ok(at('start', 'wander-003') > at('end', 'wander-001'), 'wander-003 after wander-001');
      assert.ok(at('start', 'wander-004') > at('end', 'wander-002'), 'wander-004 after wander-002');
      assert.ok(at('start', 'wander-004') > at('end', 'wander-003'), 'wander-004 after wander-003');
      assert.equal(log.length, 8, 'each task ran once');
    } finally {
      await handle.terminate('test over');
    }
  });
});

test('trigger_next across files: a task queued while the task that triggers it runs waits for it', async () => {
  const config = testConfig(env);
  const root = config.root;
  const worker = await testWorker(env, config);
  const id = uniqueBatchId('trigger-intake');
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(INTAKE_WORKFLOW, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ mode: 'continuous', pollIntervalMs: 200 }],
    });
    try {
      drop(
        root,
        'first.yaml',
        `id: first\ncommand: '${loggedCommand('first', 3)}'\non_completion:\n  trigger_next: [second]\n`,
      );
      await until('first running', () => ls(root, 'running').includes('first.yaml'));
      // second names no dependency itself: the trigger is its only edge.
      drop(root, 'second.yaml', `id: second\ncommand: '${loggedCommand('second', 0)}'\n`);
      await until('both completed', () =>
        ['first.yaml', 'second.yaml'].every((f) => ls(root, 'completed').includes(f)),
      );
      const log = readLog(root);
      const end = log.find((x) => x.kind === 'end' && x.id === 'first')!.ns;
      const start = log.find((x) => x.kind === 'start' && x.id === 'second')!.ns;
      assert.ok(start > end, 'second started after first ended');
    } finally {
      await handle.terminate('test over');
    }
  });
});
