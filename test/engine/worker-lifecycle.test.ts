/**
 * A worker process's life around the server and the operator: started before the server
 * it waits and says so, it rides out a server restart, and SIGTERM drains it without
 * failing a task (another worker finishes what it handed back).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { TASK_QUEUE } from '../../contract';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import type { BatchResult } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { commandRunning, loggedCommand, readLog } from '../helpers/batch';
import { startDevServer, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function commandNight(env: TestWorkflowEnvironment, id: string): Promise<BatchResult> {
  const spec = { tasks: [{ id, title: id, command: `echo ${id} ran` }] };
  return (await env.client.workflow.execute('nightlyBatch', {
    taskQueue: TASK_QUEUE,
    workflowId: uniqueBatchId('lifecycle'),
    args: [{ spec }],
  })) as BatchResult;
}

test('a worker started before the server waits for it, runs a night, and rides out a server restart', async () => {
  const port = await freePort();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-lifecycle-'));
  const vars = { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: 'default', NIGHTSHIFT_ROOT: root };
  let worker: WorkerProcess | undefined;
  let env: TestWorkflowEnvironment | undefined;
  try {
    worker = await spawnWorker(vars, 60_000, { ready: 'waiting for Temporal at' });
    assert.match(
      worker.output(),
      new RegExp(`waiting for Temporal at 127\\.0\\.0\\.1:${port}: connection refused; retrying in \\d+ s`),
    );
    await sleep(10_000);
    assert.equal(worker.child.exitCode, null, `the worker kept waiting:\n${worker.output()}`);

    env = await startDevServer([], { port });
    await worker.waitFor('nightshift worker: task queue', 60_000);
    const first = await commandNight(env, 'first');
    assert.deepEqual(
      first.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['first:succeeded'],
    );

    // The server goes away and comes back on the same port: the same worker process serves the next night.
    await env.teardown();
    env = undefined;
    await sleep(3_000);
    env = await startDevServer([], { port });
    const second = await commandNight(env, 'second');
    assert.deepEqual(
      second.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['second:succeeded'],
    );
    assert.equal(worker.child.exitCode, null);
  } finally {
    await worker?.kill('SIGKILL');
    await env?.teardown();
    await shutdownIsolation();
  }
});

test('SIGTERM drains a worker mid-task: another worker finishes the command and the agent task, nothing fails', async () => {
  const env = await startDevServer();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-sigterm-'));
  let agentInBash = false;
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) {
        agentInBash = true;
        return message([toolUse('tu_sleep', 'bash', { command: 'sleep 12; echo slept >> slept.txt' })], {
          usage: { input_tokens: 30, output_tokens: 5 },
        });
      }
      return message(
        [text('Done.'), toolUse('tu_fin', 'finish', { summary: 'slept', verification: 'cat slept.txt' })],
        { usage: { input_tokens: 30, output_tokens: 5 } },
      );
    },
  });
  const vars = {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: 'default',
    NIGHTSHIFT_ROOT: root,
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
  };
  const workers: WorkerProcess[] = [];
  try {
    workers.push(await spawnWorker(vars));
    const spec = {
      tasks: [
        { id: 'cmd', title: 'A long command', command: loggedCommand('cmd', 12) },
        {
          id: 'agent',
          title: 'Sleep in bash',
          description: 'Run the long command.',
          agent_config: { model: 'haiku', max_turns: 4 },
        },
        { id: 'after', title: 'Depends on both', depends_on: ['cmd', 'agent'], command: 'echo after' },
      ],
    };
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: uniqueBatchId('sigterm'),
      args: [{ spec }],
    });
    const until = Date.now() + 60_000;
    while (!(agentInBash && commandRunning('start cmd ') && commandRunning('sleep 12; echo slept'))) {
      assert.ok(Date.now() < until, `the command and the agent's bash never both started:\n${workers[0].output()}`);
      await sleep(200);
    }
    const first = workers[0];
    const stoppedAt = BigInt(Date.now()) * 1_000_000n;
    await first.kill('SIGTERM');
    assert.equal(first.child.exitCode, 0, `a drained worker exits cleanly:\n${first.output()}`);
    assert.match(first.output(), /SIGTERM: draining/);

    workers.push(await spawnWorker(vars));
    const result = (await handle.result()) as BatchResult;
    assert.deepEqual(
      result.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['cmd:succeeded', 'agent:succeeded', 'after:succeeded'],
      JSON.stringify(result.tasks.map((t) => t.error)),
    );
    // The command cut by the shutdown ran again, from the start, on the second worker.
    const events = readLog(root).filter((e) => e.id === 'cmd');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['start', 'end'],
    );
    assert.ok(events[0].ns > stoppedAt, 'the kept run of the command started after the first worker stopped');
    assert.equal(commandRunning('start cmd '), false, 'no command of the stopped worker is left running');
  } finally {
    for (const w of workers) await w.kill('SIGKILL');
    await fake.close();
    await env.teardown();
    await shutdownIsolation();
  }
});

test('a worker whose postgres state store cannot be reached stops at start, naming the store, not waiting for Temporal', async () => {
  const port = await freePort();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-nostore-'));
  const worker = await spawnWorker(
    {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      NIGHTSHIFT_ROOT: root,
      NIGHTSHIFT_STORE: `postgres://nightshift:hidden-pw@127.0.0.1:${port}/nightshift`,
    },
    60_000,
    { ready: 'state store' },
  );
  await worker.exited;
  assert.equal(worker.child.exitCode, 1, worker.output());
  assert.match(
    worker.output(),
    new RegExp(
      `nightshift worker: state store postgres://nightshift:\\*\\*\\*@127\\.0\\.0\\.1:${port}/nightshift: .*ECONNREFUSED`,
    ),
  );
  assert.doesNotMatch(worker.output(), /hidden-pw|waiting for Temporal/);
});
