/**
 * A sandbox lost in the middle of a task (here: its directory deleted between two turns)
 * is rebuilt from the workspace checkpoint taken after the agent's last change, and the
 * task goes on with its work in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { startRecordingServer } from '../fakes/notify-servers';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { makeRepo } from '../sandbox/helpers';
import { removeTree } from '../helpers/mounts';
import { E2B_KEY_METADATA } from '../../sandbox/e2b';
import { startFakeE2B } from '../fakes/e2b-server';
import { capabilityWaits } from '../../client/workers';
import { agentInput, agentSpec, runAgentTask, withModel, workflowIdOf } from './helpers';

const server = devServerForFile();

type Body = { messages: { role: string; content: string | { type: string; content?: string }[] }[] };
const lastToolResult = (body: unknown): string => {
  const msgs = (body as Body).messages;
  const last = msgs[msgs.length - 1].content;
  return typeof last === 'string' ? last : (last.find((b) => b.type === 'tool_result')?.content ?? '');
};

test('a sandbox deleted between turns is rebuilt from its checkpoint and the task finishes', async () => {
  const { bare } = makeRepo();
  const config = testConfig(server.env);
  const sandboxesDir = path.join(stateDir(config), 'sandboxes');
  let deleted: string[] = [];
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1)
        return message([toolUse('tu_1', 'write_file', { path: 'notes/plan.md', content: 'step one done\n' })]);
      if (turn === 2) {
        // The sandbox disappears while the model thinks about turn 2.
        deleted = readdirSync(sandboxesDir).filter((d) => d.startsWith('sbx-'));
        for (const d of deleted) removeTree(path.join(sandboxesDir, d));
        return message([
          toolUse('tu_2', 'bash', { command: 'cat notes/plan.md && git status --short && cat README.md' }),
        ]);
      }
      if (turn === 3) return message([toolUse('tu_3', 'finish', { summary: 'kept going after losing the sandbox' })]);
      return undefined;
    },
  });
  try {
    const worker = await testWorker(server.env, withModel(config, fake.url));
    const { result } = await runAgentTask(server.env, worker, agentInput(agentSpec({ repo: bare, maxTurns: 5 })));
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(deleted.length, 1, 'the test removed the task sandbox');
    assert.equal(fake.exhausted, undefined);

    // Turn 3's request carries the bash output run in the rebuilt sandbox: the file written
    // in turn 1 is there, as an uncommitted change on top of the cloned repository.
    const out = lastToolResult(fake.requests[fake.requests.length - 1].body);
    assert.match(out, /exit code: 0/);
    assert.match(out, /step one done/);
    assert.match(out, /\?\? notes\//);
    assert.match(out, /# demo/);
    assert.equal(readFileSync(path.join(result.workDir!, 'notes', 'plan.md'), 'utf8'), 'step one done\n');
  } finally {
    await fake.close();
  }
});

test('a task whose sandbox.provider is e2b gets its sandbox from E2B, keyed by its run, and kills it', async () => {
  const fakeE2B = await startFakeE2B('e2b_test_key');
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'finish', { summary: 'nothing to do' })])],
  });
  try {
    const base = withModel(testConfig(server.env), fake.url);
    const worker = await testWorker(server.env, {
      ...base,
      e2b: { apiKey: 'e2b_test_key', apiUrl: fakeE2B.url, sandboxUrl: fakeE2B.sandboxUrl },
    });
    const input = agentInput(
      agentSpec({ sandbox: { provider: 'e2b', template: 'nightshift-node', networkAllow: [], envAllow: [] } }),
    );
    const { result } = await runAgentTask(server.env, worker, input);
    const created = fakeE2B.created;
    assert.equal(created.length, 1);
    assert.equal(fakeE2B.sandboxes.size, 0, 'killed at the end of the task');
    // Keyed by the task's run (a rerun gets a sandbox of its own): the workflow ID, '@', the first run's ID.
    assert.match(
      created[0].metadata[E2B_KEY_METADATA],
      new RegExp(`^${workflowIdOf(input).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@[0-9a-f-]{36}$`),
    );
    assert.equal(created[0].templateID, 'nightshift-node');
    assert.ok(fakeE2B.requests.includes(`DELETE /sandboxes/${created[0].sandboxID}`), fakeE2B.requests.join('\n'));
    // The workspace was copied out through envd before the kill.
    assert.equal(result.status, 'succeeded');
    assert.equal(result.error, undefined);
    assert.ok(result.workDir);
  } finally {
    await fake.close();
    await fakeE2B.close();
  }
});

test('a task asking for e2b waits for a worker with E2B_API_KEY, and status says so', async () => {
  const fake = await startFakeAnthropic({ script: [] });
  // A queue of its own: the e2b test above polled nightshift-e2b moments ago, and a poller counts as present for a while after.
  const queue = `nightshift-no-e2b-${process.pid}`;
  try {
    const worker = await testWorker(
      server.env,
      { ...withModel(testConfig(server.env), fake.url), e2b: {} },
      { taskQueue: queue },
    );
    assert.ok(!worker.capabilities.routed.has('e2b'));
    const input = agentInput(agentSpec({ sandbox: { provider: 'e2b', networkAllow: [], envAllow: [] } }));
    const handle = await server.env.client.workflow.start('agentTask', {
      taskQueue: queue,
      workflowId: workflowIdOf(input),
      args: [input],
    });
    await worker.runUntil(async () => {
      let waits: string[] = [];
      for (const until = Date.now() + 30_000; waits.length === 0; await new Promise((r) => setTimeout(r, 300))) {
        assert.ok(Date.now() < until, `the sandbox creation never queued on ${queue}-e2b`);
        waits = await capabilityWaits(server.env.client, queue);
      }
      assert.deepEqual(waits, [
        `1 E2B sandbox step waits: no worker polls task queue ${queue}-e2b; start one with E2B_API_KEY set`,
      ]);
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      assert.deepEqual(
        pending.map((a) => [a.activityType?.name, a.attempt]),
        [['createAgentSandbox', 1]],
        'waits to be started, not failed or retried',
      );
    });
    await handle.terminate('test over');
    assert.equal(fake.requests.length, 0, 'no model call without a sandbox');
  } finally {
    await fake.close();
  }
});

test('a policy violation halts the task, notifies (event "halted") with the rule, and the report lists it', async () => {
  const fake = await startFakeAnthropic({
    script: [message([toolUse('tu_1', 'bash', { command: 'git push origin HEAD' })])],
  });
  const hook = await startRecordingServer({ kind: 'webhook' });
  try {
    const config = {
      ...withModel(testConfig(server.env), fake.url),
      notify: { telegramApiUrl: 'http://127.0.0.1:9', webhookUrl: hook.url },
    };
    const worker = await testWorker(server.env, config);
    const spec = { tasks: [{ id: 'pusher', title: 'Push it', description: 'Push the branch.' }] };
    const r: BatchResult = await worker.runUntil(
      server.env.client.workflow.execute('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: uniqueBatchId(),
        args: [{ spec, date: '2026-11-21' }],
      }),
    );
    assert.deepEqual(
      r.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['pusher:halted'],
    );
    const halted = hook.requests.find((q) => q.body.event === 'halted');
    assert.ok(halted, JSON.stringify(hook.requests.map((q) => q.body.event)));
    assert.match(JSON.stringify(halted.body), /pusher[\s\S]*no-git-writes[\s\S]*git push/);
    assert.ok(r.report && 'markdown' in r.report);
    assert.match(
      readFileSync(path.join(config.root, r.report.markdown), 'utf8'),
      /\*\*pusher\*\* \(Push it\): halted by the safety policy/,
    );
  } finally {
    await Promise.all([fake.close(), hook.close()]);
  }
});
