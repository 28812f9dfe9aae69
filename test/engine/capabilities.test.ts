/**
 * Workers that differ in what they can run. Work that needs a model goes to a queue only
 * workers with a model poll: a worker without a key leaves the agent task's model calls
 * waiting, and `status` says why, until a worker with a key takes them. A task delivered on
 * GitHub has its sandbox made (and remade, when its host dies) from a queue only workers
 * with GITHUB_TOKEN poll, the same way, so the host that pushes its branch has the token. The demo runs on
 * its own queue, so an outside `npm run worker` takes none of its tasks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { Client } from '@temporalio/client';
import { readBatch } from '../../client/batches';
import { runDemo } from '../../client/commands/demo';
import { capabilityWaits, untilPolled } from '../../client/workers';
import { DEMO_TASK_QUEUE, hostTaskQueue } from '../../common/task-queues';
import { TASK_QUEUE } from '../../contract';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import type { BatchResult, BatchStatus } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { git, GITHUB_REPO, prSettings, remote, taskOf, writesThenFinishes } from '../delivery/helpers';
import { agentInput, agentSpec, startAgentTask, taskResultOf, workflowIdOf } from '../agent/helpers';
import { startDevServer, testConfig, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const REPO = path.join(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { EventType } = temporal.api.enums.v1;

/** Identities of the workers that started each activity type, from the workflow's history. */
async function activityWorkers(client: Client, workflowId: string): Promise<Map<string, Set<string>>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const typeOf = new Map<number, string>();
  const byType = new Map<string, Set<string>>();
  for (const e of history.events ?? []) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      typeOf.set(Number(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!);
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const type = typeOf.get(Number(e.activityTaskStartedEventAttributes!.scheduledEventId))!;
      if (!byType.has(type)) byType.set(type, new Set());
      byType.get(type)!.add(e.activityTaskStartedEventAttributes!.identity ?? '');
    }
  }
  return byType;
}

test('a worker without a model leaves the agent task waiting, says why, and a worker with a model takes it', async () => {
  const env = await startDevServer();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-capabilities-'));
  const fake = await startFakeAnthropic({
    script: [message([text('Done.'), toolUse('tu_fin', 'finish', { summary: 'nothing to do', verification: 'none' })])],
  });
  const vars = { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', NIGHTSHIFT_ROOT: root };
  const workers: WorkerProcess[] = [];
  try {
    const keyless = await spawnWorker({ ...vars, ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' });
    workers.push(keyless);
    assert.match(
      keyless.output(),
      /leaves model work to other workers: it needs a model configured \(ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL\)/,
    );
    assert.match(keyless.output(), /polls nightshift\n/);

    const batchId = uniqueBatchId('capabilities');
    const spec = {
      tasks: [
        { id: 'cmd', title: 'A command needs no model', command: 'echo ran' },
        {
          id: 'agent',
          title: 'Finish at once',
          description: 'Say you are done.',
          agent_config: { model: 'haiku', max_turns: 3 },
        },
      ],
    };
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: batchId,
      args: [{ spec }],
    });

    // The agent task gets as far as its model call, which waits unstarted on the model queue.
    const agent = env.client.workflow.getHandle(`${batchId}/agent`);
    let waits: string[] = [];
    for (const until = Date.now() + 60_000; waits.length === 0; await sleep(300)) {
      assert.ok(Date.now() < until, `the model call never queued:\n${keyless.output()}`);
      waits = await capabilityWaits(env.client, TASK_QUEUE);
    }
    assert.deepEqual(waits, [
      '1 model call waits: no worker polls task queue nightshift-model; start one with a model configured (ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL)',
    ]);
    await sleep(5_000);
    const pending = (await agent.describe()).raw.pendingActivities ?? [];
    assert.deepEqual(
      pending.map((a) => [a.activityType?.name, a.state, a.attempt]),
      [['callModel', temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, 1]],
      'the model call waits to be started, not retried or failed',
    );
    const status: BatchStatus = await readBatch(env.client, batchId);
    assert.equal(status.state, 'running');
    assert.deepEqual(status.waiting, waits);
    assert.deepEqual(
      status.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['cmd:succeeded', 'agent:running'],
    );
    assert.equal(fake.requests.length, 0);

    const keyed = await spawnWorker({ ...vars, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.url });
    workers.push(keyed);
    assert.match(
      keyed.output(),
      /polls nightshift, nightshift-model\n/,
      'no GitHub token, E2B key or Docker engine here',
    );
    const result = (await handle.result()) as BatchResult;
    assert.deepEqual(
      result.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['cmd:succeeded', 'agent:succeeded'],
      JSON.stringify(result.tasks.map((t) => t.error)),
    );
    assert.equal(fake.requests.length, 1);
    const callers = (await activityWorkers(env.client, `${batchId}/agent`)).get('callModel');
    assert.deepEqual(
      [...(callers ?? [])].map((id) => id.split('@')[0]),
      [String(keyed.child.pid)],
      'only the worker with the model called it',
    );
  } finally {
    for (const w of workers) await w.kill('SIGKILL');
    await fake.close();
    await env.teardown();
    await shutdownIsolation();
  }
});

test('the demo runs on its own task queue while an outside worker without a model polls nightshift', async () => {
  const env = await startDevServer();
  const outsideRoot = mkdtempSync(path.join(os.tmpdir(), 'nightshift-outside-'));
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-demo-'));
  mkdirSync(path.join(root, 'tasks'));
  copyFileSync(path.join(REPO, 'tasks', 'example.yaml'), path.join(root, 'tasks', 'example.yaml'));
  const outside = await spawnWorker({
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: 'default',
    NIGHTSHIFT_ROOT: outsideRoot,
    ANTHROPIC_API_KEY: '',
    ANTHROPIC_BASE_URL: '',
  });
  const exitCode = process.exitCode;
  try {
    const base = testConfig(env, root);
    const config = { ...base, anthropic: {} };
    const printed: string[] = [];
    await runDemo(
      config,
      { file: path.join(root, 'tasks', 'example.yaml'), json: true },
      (s) => printed.push(s),
      () => undefined,
    );
    const status = JSON.parse(printed.join('\n')) as BatchStatus;
    assert.deepEqual(
      status.tasks.map((t) => `${t.taskId}:${t.status}`).sort(),
      [
        'example-agent:succeeded',
        'wander-001:succeeded',
        'wander-002:succeeded',
        'wander-003:succeeded',
        'wander-004:succeeded',
      ],
      JSON.stringify(status.tasks.map((t) => t.error)),
    );
    assert.equal((await env.client.workflow.getHandle(status.batchId).describe()).taskQueue, DEMO_TASK_QUEUE);
    const outsidePid = String(outside.child.pid);
    let started = 0;
    for (const t of status.tasks) {
      for (const [type, ids] of await activityWorkers(env.client, `${status.batchId}/${t.taskId}`)) {
        started += ids.size;
        assert.ok(
          ![...ids].some((id) => id.split('@')[0] === outsidePid),
          `the outside worker ran ${type} of ${t.taskId}`,
        );
      }
    }
    assert.ok(started >= status.tasks.length, 'every task ran activities');
    assert.equal(outside.child.exitCode, null, 'the outside worker kept polling throughout');
  } finally {
    process.exitCode = exitCode;
    await outside.kill('SIGKILL');
    await env.teardown();
    await shutdownIsolation();
  }
});

interface ActivityRun {
  type: string;
  taskQueue: string;
  /** pid@host of the worker that started its last attempt; absent while it waits. */
  identity?: string;
}

/** Every activity of the workflow in schedule order, with the queue it was put on and who started it. */
async function activityRuns(client: Client, workflowId: string): Promise<ActivityRun[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const runs = new Map<number, ActivityRun>();
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && scheduled)
      runs.set(Number(e.eventId), { type: scheduled.activityType!.name!, taskQueue: scheduled.taskQueue!.name! });
    const started = e.activityTaskStartedEventAttributes;
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && started)
      runs.get(Number(started.scheduledEventId))!.identity = started.identity ?? undefined;
  }
  return [...runs.values()];
}

const pidOf = (identity: string | undefined) => identity?.split('@')[0];
const SANDBOX_MADE = ['createAgentSandbox', 'recreateAgentSandbox'];
/** The activities that read or change a task's sandbox once it exists. */
const ON_SANDBOX = ['prepareAgent', 'runTool', 'commitWork', 'pushWork', 'keepWork', 'killSandbox'];

test("a GitHub task's sandbox is made by a worker with GITHUB_TOKEN, which pushes and opens the PR; a local task's by any worker", async () => {
  const env = await startDevServer();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-capabilities-'));
  const onGitHub = remote();
  const local = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare: onGitHub } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => writesThenFinishes({ [`${taskOf(req)}.txt`]: 'work\n' }, turn),
  });
  const vars = {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: 'default',
    NIGHTSHIFT_ROOT: root,
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
    GITHUB_API_URL: gh.url,
  };
  const hostA = `caps-a-${process.pid}`;
  const hostB = `caps-b-${process.pid}`;
  const workers: WorkerProcess[] = [];
  try {
    const tokenless = await spawnWorker({ ...vars, GITHUB_TOKEN: '', NIGHTSHIFT_HOST_ID: hostA });
    workers.push(tokenless);
    assert.match(tokenless.output(), /leaves github work to other workers: it needs GITHUB_TOKEN set/);
    assert.match(tokenless.output(), /polls nightshift, nightshift-model\n/);
    assert.doesNotMatch(tokenless.output(), /https remotes/, 'no warning about pushes it is no longer given');
    // Its start-up line can come before its first poll reaches the server; `status` needs the poll.
    await untilPolled(env.client, TASK_QUEUE);

    const batchId = uniqueBatchId('capabilities-github');
    const agent = (id: string) => ({
      id,
      title: `Write ${id}.txt`,
      description: 'Write the file and finish.',
      agent_config: { model: 'haiku', max_turns: 4 },
    });
    const spec = {
      tasks: [
        { ...agent('on-github'), context: { repo: onGitHub }, pull_request: { repo: GITHUB_REPO } },
        { ...agent('local-only'), context: { repo: local }, on_completion: { create_pr: false } },
      ],
    };
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: batchId,
      args: [{ spec }],
    });

    // With only the tokenless worker: the local task runs to the end; the GitHub task's sandbox waits for a token.
    let status: BatchStatus | undefined;
    for (const until = Date.now() + 120_000; ; await sleep(500)) {
      assert.ok(
        Date.now() < until,
        `the local task did not finish or the GitHub task's sandbox did not queue:\n${JSON.stringify(status?.tasks)}\n${tokenless.output()}`,
      );
      status = await readBatch(env.client, batchId);
      if (
        status.tasks.some((t) => t.taskId === 'local-only' && t.status !== 'running' && t.status !== 'pending') &&
        status.waiting?.length
      )
        break;
    }
    assert.deepEqual(
      status.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['on-github:running', 'local-only:succeeded'],
      JSON.stringify(status.tasks.map((t) => t.error)),
    );
    assert.deepEqual(status.waiting, [
      '1 GitHub step waits: no worker polls task queue nightshift-github; start one with GITHUB_TOKEN set',
    ]);
    const waiting = await activityRuns(env.client, `${batchId}/on-github`);
    assert.deepEqual(
      waiting.map((r) => [r.type, r.taskQueue, r.identity]),
      [['createAgentSandbox', 'nightshift-github', undefined]],
      'the GitHub task did nothing but queue its sandbox for a worker with the token',
    );
    assert.equal(gh.calls.length, 0, 'no GitHub call was made');

    const tokened = await spawnWorker({ ...vars, GITHUB_TOKEN: 'ghs_test', NIGHTSHIFT_HOST_ID: hostB });
    workers.push(tokened);
    assert.match(tokened.output(), /polls nightshift, nightshift-model, nightshift-github\n/);
    const result = (await handle.result()) as BatchResult;
    const byId = new Map(result.tasks.map((t) => [t.taskId, t]));
    assert.deepEqual(
      result.tasks.map((t) => `${t.taskId}:${t.status}`).sort(),
      ['local-only:succeeded', 'on-github:succeeded'],
      JSON.stringify(result.tasks.map((t) => t.error)),
    );

    const delivered = byId.get('on-github')!;
    assert.equal(delivered.deliveryError, undefined);
    assert.equal(delivered.pushed, true);
    assert.ok(delivered.branch && delivered.commit);
    assert.equal(
      git(onGitHub, 'rev-parse', `refs/heads/${delivered.branch}`),
      delivered.commit,
      'the branch is on the remote',
    );
    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 1);
    assert.equal(pulls[0].head.ref, delivered.branch);
    assert.equal(delivered.prUrl, pulls[0].html_url);

    const tokenedPid = String(tokened.child.pid);
    const tokenlessPid = String(tokenless.child.pid);
    const ghRuns = await activityRuns(env.client, `${batchId}/on-github`);
    const made = ghRuns.filter((r) => SANDBOX_MADE.includes(r.type));
    assert.deepEqual(
      made.map((r) => [r.type, r.taskQueue, pidOf(r.identity)]),
      [['createAgentSandbox', 'nightshift-github', tokenedPid]],
      'the worker with the token made the sandbox, once',
    );
    const onSandbox = ghRuns.filter((r) => ON_SANDBOX.includes(r.type));
    assert.deepEqual([...new Set(onSandbox.map((r) => r.type))].sort(), [...ON_SANDBOX].sort());
    for (const r of onSandbox) {
      assert.equal(r.taskQueue, hostTaskQueue(hostB), `${r.type} went to the creator's own queue`);
      assert.equal(pidOf(r.identity), tokenedPid, `${r.type} ran on the worker with the token`);
    }
    assert.ok(
      !ghRuns.some((r) => pidOf(r.identity) === tokenlessPid && [...SANDBOX_MADE, ...ON_SANDBOX].includes(r.type)),
      "the tokenless worker never made or touched the GitHub task's sandbox",
    );
    assert.deepEqual(
      ghRuns.filter((r) => r.type === 'openPullRequest').map((r) => [r.taskQueue, pidOf(r.identity)]),
      [['nightshift-github', tokenedPid]],
    );

    // The control: a task on a local remote is made, worked on and pushed by the tokenless worker.
    const localRuns = await activityRuns(env.client, `${batchId}/local-only`);
    assert.deepEqual(
      localRuns.filter((r) => SANDBOX_MADE.includes(r.type)).map((r) => [r.type, r.taskQueue, pidOf(r.identity)]),
      [['createAgentSandbox', TASK_QUEUE, tokenlessPid]],
    );
    for (const r of localRuns.filter((r) => ON_SANDBOX.includes(r.type)))
      assert.deepEqual([r.type, r.taskQueue, pidOf(r.identity)], [r.type, hostTaskQueue(hostA), tokenlessPid]);
    const localTask = byId.get('local-only')!;
    assert.equal(localTask.pushed, true);
    assert.equal(git(local, 'rev-parse', `refs/heads/${localTask.branch}`), localTask.commit);
    assert.deepEqual(await capabilityWaits(env.client, TASK_QUEUE), []);
  } finally {
    for (const w of workers) await w.kill('SIGKILL');
    await fake.close();
    await gh.close();
    await env.teardown();
    await shutdownIsolation();
  }
});

test('a GitHub task whose sandbox host dies is rebuilt by another worker with GITHUB_TOKEN, never by one without', async () => {
  const env = await startDevServer();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-capabilities-'));
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const vars = {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: 'default',
    NIGHTSHIFT_ROOT: root,
    GITHUB_API_URL: gh.url,
  };
  const workers: WorkerProcess[] = [];
  // The model is only on the tokenless worker, so the sandbox's first host holds no model call when it dies.
  const tokenlessVars = { ...vars, GITHUB_TOKEN: '', NIGHTSHIFT_HOST_ID: `caps-a-${process.pid}` };
  const tokenVars = (host: string) => ({
    ...vars,
    GITHUB_TOKEN: 'ghs_test',
    ANTHROPIC_API_KEY: '',
    ANTHROPIC_BASE_URL: '',
    NIGHTSHIFT_HOST_ID: `caps-${host}-${process.pid}`,
  });
  let replacement: Promise<WorkerProcess> | undefined;
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      // After turn 1's tool ran on the first token host: that host dies, another with the token comes up.
      if (turn === 2 && !replacement) {
        void workers[1].kill('SIGKILL');
        replacement = spawnWorker(tokenVars('c'));
      }
      if (turn === 1) return message([toolUse('tu_w1', 'write_file', { path: 'one.txt', content: 'one\n' })]);
      if (turn === 2) return message([toolUse('tu_w2', 'write_file', { path: 'two.txt', content: 'two\n' })]);
      return message([
        text('Done.'),
        toolUse('tu_fin', 'finish', { summary: 'wrote two files', verification: 'read them back' }),
      ]);
    },
  });
  try {
    workers.push(await spawnWorker({ ...tokenlessVars, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.url }));
    workers.push(await spawnWorker(tokenVars('b')));
    const input = agentInput(
      agentSpec({ id: 'rebuilt', repo: bare, createPr: true, pullRequest: prSettings(), model: 'haiku', maxTurns: 5 }),
      { hostScheduleToStartMs: 5_000 },
    );
    const handle = await startAgentTask(env, input);
    const result = await taskResultOf(handle);
    assert.ok(replacement, 'the first token host was killed');
    const tokenedAgain = await replacement;
    workers.push(tokenedAgain);
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.sandboxesLost, 1);
    assert.equal(result.deliveryError, undefined);
    assert.equal(result.pushed, true);
    assert.equal(git(bare, 'rev-parse', `refs/heads/${result.branch}`), result.commit);
    assert.deepEqual(
      git(bare, 'ls-tree', '--name-only', result.commit!)
        .split('\n')
        .filter((f) => f.endsWith('.txt'))
        .sort(),
      ['one.txt', 'two.txt'],
      "the rebuilt sandbox kept turn 1's work",
    );
    assert.equal(gh.pulls(GITHUB_REPO).length, 1);

    const runs = await activityRuns(env.client, workflowIdOf(input));
    const [tokenless, first, second] = [workers[0], workers[1], tokenedAgain].map((w) => String(w.child.pid));
    assert.deepEqual(
      runs.filter((r) => SANDBOX_MADE.includes(r.type)).map((r) => [r.type, r.taskQueue, pidOf(r.identity)]),
      [
        ['createAgentSandbox', 'nightshift-github', first],
        ['recreateAgentSandbox', 'nightshift-github', second],
      ],
    );
    for (const r of runs.filter((r) => ['pushWork', 'commitWork'].includes(r.type)))
      assert.deepEqual(
        [r.type, r.taskQueue, pidOf(r.identity)],
        [r.type, hostTaskQueue(`caps-c-${process.pid}`), second],
      );
    assert.ok(
      !runs.some((r) => pidOf(r.identity) === tokenless && [...SANDBOX_MADE, ...ON_SANDBOX].includes(r.type)),
      'the tokenless worker never held the sandbox',
    );
  } finally {
    for (const w of workers) await w.kill('SIGKILL');
    await (await replacement?.catch(() => undefined))?.kill('SIGKILL');
    await fake.close();
    await gh.close();
    await env.teardown();
    await shutdownIsolation();
  }
});
