/**
 * Sandbox affinity (Temporal's worker-specific task queues): two worker processes, "hosts"
 * with separate NIGHTSHIFT_ROOT scratch directories, on one server. Every activity that
 * touches a task's local sandbox runs on the worker that created it; when that worker is
 * SIGKILLed and its scratch directory deleted, the task rebuilds its sandbox on the other
 * host from the last checkpoint, goes on, and counts the loss.
 *
 * What must outlive a host (transcripts, checkpoints) is shared here by linking both roots'
 * `.nightshift/transcripts` and `checkpoints.git` to one directory, standing in for the
 * shared state store; sandboxes, kept work and delivery repositories stay per host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { hostTaskQueue } from '../../common/task-queues';
import type { MessagesReply, MessagesRequest } from '../../demo/messages-server';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { devServerForFile } from '../helpers/temporal';
import { removeTree } from '../helpers/mounts';
import { seededRepo } from '../helpers/recovery-night';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { agentInput, agentSpec, startAgentTask, taskResultOf, workflowIdOf } from '../agent/helpers';

const server = devServerForFile();

const EventType = temporal.api.enums.v1.EventType;
/** The activities that read or change the sandbox; createAgentSandbox and recreateAgentSandbox run anywhere. */
const ON_SANDBOX = new Set([
  'prepareAgent',
  'runTool',
  'runChecks',
  'commitWork',
  'pushWork',
  'keepWork',
  'killSandbox',
]);

interface Host {
  id: string;
  root: string;
  worker: WorkerProcess;
}

/** Two roots whose transcripts and checkpoints live in one shared directory, and a repository outside both. */
function hostsLayout(): { roots: [string, string]; repo: string } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'nightshift-hosts-'));
  const shared = path.join(base, 'shared-store');
  for (const d of ['transcripts', 'checkpoints.git']) mkdirSync(path.join(shared, d), { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', path.join(shared, 'checkpoints.git')]);
  const roots = ['host-a', 'host-b'].map((h) => {
    const root = path.join(base, h);
    mkdirSync(path.join(root, '.nightshift'), { recursive: true });
    for (const d of ['transcripts', 'checkpoints.git'])
      symlinkSync(path.join(shared, d), path.join(root, '.nightshift', d));
    return root;
  }) as [string, string];
  return { roots, repo: seededRepo(base) };
}

async function startHosts(roots: [string, string], fakeUrl: string): Promise<Host[]> {
  return Promise.all(
    roots.map(async (root, i) => {
      const id = `affinity-${'ab'[i]}-${process.pid}`;
      const worker = await spawnWorker({
        NIGHTSHIFT_ROOT: root,
        NIGHTSHIFT_HOST_ID: id,
        TEMPORAL_ADDRESS: server.env.address,
        TEMPORAL_NAMESPACE: 'default',
        ANTHROPIC_API_KEY: 'sk-test',
        ANTHROPIC_BASE_URL: fakeUrl,
      });
      return { id, root, worker };
    }),
  );
}

interface ActivityRun {
  type: string;
  taskQueue: string;
  /** pid@host of the worker that ran its last attempt. */
  identity?: string;
  timedOut?: string;
}

/** Every activity of the workflow in schedule order, with where it was queued and who ran it. */
async function activityRuns(workflowId: string): Promise<ActivityRun[]> {
  const events = (await server.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const runs = new Map<number, ActivityRun>();
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && scheduled)
      runs.set(Number(e.eventId), { type: scheduled.activityType!.name!, taskQueue: scheduled.taskQueue!.name! });
    const started = e.activityTaskStartedEventAttributes;
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && started)
      runs.get(Number(started.scheduledEventId))!.identity = started.identity ?? undefined;
    const timedOut = e.activityTaskTimedOutEventAttributes;
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT && timedOut) {
      runs.get(Number(timedOut.scheduledEventId))!.timedOut = String(
        temporal.api.enums.v1.TimeoutType[timedOut.failure?.timeoutFailureInfo?.timeoutType ?? 0],
      );
    }
  }
  return [...runs.values()];
}

/**
 * Waits until the task's createAgentSandbox has run on some worker (its started event is
 * written when it closes). An attempt handed to the paused worker's open poll is retried
 * after the heartbeat timeout, hence the margin.
 */
async function sandboxCreated(workflowId: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await activityRuns(workflowId)).some((r) => r.type === 'createAgentSandbox' && r.identity)) {
    if (Date.now() > until) throw new Error(`${workflowId} created no sandbox in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pidOf = (identity: string | undefined) => Number(identity?.split('@')[0]);

/** Turn t writes t.txt and appends to log.txt; the last turn finishes. */
function scripted(id: string, turns: number, turn: number): MessagesReply {
  if (turn === turns)
    return message(
      [text('Done.'), toolUse(`tu_${id}_fin`, 'finish', { summary: `${id} done`, verification: 'cat log.txt' })],
      { usage: { input_tokens: 40, output_tokens: 5 } },
    );
  return message(
    [
      toolUse(`tu_${id}_${turn}_w`, 'write_file', { path: `${turn}.txt`, content: `turn ${turn}\n` }),
      toolUse(`tu_${id}_${turn}_b`, 'bash', { command: `echo "turn ${turn}" >> log.txt` }),
    ],
    { usage: { input_tokens: 40, output_tokens: 5 } },
  );
}

const taskOf = (req: MessagesRequest) =>
  /Start on task ([\w-]+):/.exec(JSON.stringify(req.body.messages?.[0]?.content ?? ''))?.[1] ?? '?';

test("every activity on a task's sandbox runs on the worker that created it", async () => {
  const { roots, repo } = hostsLayout();
  const TURNS = 3;
  const fake = await startFakeAnthropic({ byTurn: (turn, req) => scripted(taskOf(req), TURNS, turn) });
  const hosts = await startHosts(roots, fake.url);
  try {
    // Sandboxes on both hosts: each pair of tasks starts while the other worker is stopped (SIGSTOP),
    // so its workflow tasks and sandbox creation go to the running one. Later, model calls and
    // workflow tasks go to either worker; only the sandbox work is pinned. A paused worker's
    // heartbeats stop too: the production heartbeat timeout (20 s, not the tests' 5 s) keeps
    // its in-flight steps from failing over and over while it is stopped on a loaded machine.
    const inputs = ['t1', 't2', 't3', 't4'].map((id) =>
      agentInput(agentSpec({ id, repo, model: 'haiku', maxTurns: TURNS + 2 }), {
        hostScheduleToStartMs: 120_000,
        heartbeatTimeoutMs: 20_000,
      }),
    );
    const handles = [];
    for (const [i, pair] of [inputs.slice(0, 2), inputs.slice(2)].entries()) {
      const paused = hosts[1 - i].worker.child;
      paused.kill('SIGSTOP');
      try {
        for (const input of pair) handles.push(await startAgentTask(server.env, input));
        for (const input of pair) await sandboxCreated(workflowIdOf(input));
      } finally {
        paused.kill('SIGCONT');
      }
    }
    const results = await Promise.all(handles.map(taskResultOf));
    for (const r of results) assert.equal(r.status, 'succeeded', r.error);

    const creators = new Set<number>();
    for (const input of inputs) {
      const runs = await activityRuns(workflowIdOf(input));
      const created = runs.find((r) => r.type === 'createAgentSandbox');
      assert.ok(created?.identity, 'the sandbox was created');
      const creator = hosts.find((h) => h.worker.child.pid === pidOf(created.identity));
      assert.ok(creator, `created by one of the two workers (${created.identity})`);
      creators.add(creator.worker.child.pid!);
      const onSandbox = runs.filter((r) => ON_SANDBOX.has(r.type));
      assert.ok(
        onSandbox.filter((r) => r.type === 'runTool').length >= 2 * (TURNS - 1),
        `${input.task.id}: its tool calls are in the history`,
      );
      for (const r of onSandbox) {
        assert.equal(
          r.taskQueue,
          hostTaskQueue(creator.id),
          `${input.task.id}: ${r.type} was queued for the creating host`,
        );
        assert.equal(
          pidOf(r.identity),
          creator.worker.child.pid,
          `${input.task.id}: ${r.type} ran on the creating worker`,
        );
      }
      // The work is on the creator's disk only: the other host never had this sandbox.
      const kept = readFileSync(path.join(results[inputs.indexOf(input)].workDir!, 'log.txt'), 'utf8');
      assert.equal(kept, 'turn 1\nturn 2\n');
    }
    assert.equal(creators.size, 2, 'sandboxes were created on both hosts');
  } finally {
    for (const h of hosts) await h.worker.kill('SIGKILL');
    // The killed workers leave their sandboxes' volumes mounted; the hosts' directory goes with them.
    removeTree(path.dirname(roots[0]));
    await fake.close();
  }
});

test('a host that dies with its scratch directory: the task rebuilds its sandbox on the other host from its checkpoint and counts the loss', async () => {
  const { roots, repo } = hostsLayout();
  const TURNS = 4;
  const input = agentInput(agentSpec({ id: 'lost', repo, model: 'haiku', maxTurns: TURNS + 2 }), {
    heartbeatTimeoutMs: 10_000,
    hostScheduleToStartMs: 5000,
  });
  let hosts: Host[] = [];
  let lostHost: Host | undefined;
  let killing: Promise<void> | undefined;
  const fake = await startFakeAnthropic({
    byTurn: async (turn, req) => {
      if (turn === 2 && !killing) {
        // Turn 1's tools ran in the sandbox; now its host goes, disk and all, with this call in flight.
        killing = (async () => {
          const created = (await activityRuns(workflowIdOf(input))).find((r) => r.type === 'createAgentSandbox');
          lostHost = hosts.find((h) => h.worker.child.pid === pidOf(created?.identity));
          assert.ok(lostHost, 'the creating worker is one of the two');
          await lostHost.worker.kill('SIGKILL');
          removeTree(path.join(lostHost.root, '.nightshift'));
        })();
        return { status: 0, hang: true };
      }
      return scripted(taskOf(req), TURNS, turn);
    },
  });
  hosts = await startHosts(roots, fake.url);
  try {
    const result = await taskResultOf(await startAgentTask(server.env, input));
    await killing;
    assert.ok(lostHost, 'a host was lost');
    const survivor = hosts.find((h) => h !== lostHost)!;
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.sandboxesLost, 1);
    assert.equal(result.turns, TURNS);

    const runs = await activityRuns(workflowIdOf(input));
    const recreated = runs.findIndex((r) => r.type === 'recreateAgentSandbox');
    assert.ok(recreated > 0, 'the sandbox was rebuilt');
    assert.ok(
      runs
        .slice(0, recreated)
        .some((r) => r.taskQueue === hostTaskQueue(lostHost!.id) && r.timedOut === 'TIMEOUT_TYPE_SCHEDULE_TO_START'),
      'an activity waited on the dead host queue until its schedule-to-start timeout',
    );
    for (const r of runs.slice(recreated + 1).filter((x) => ON_SANDBOX.has(x.type))) {
      assert.equal(
        r.taskQueue,
        hostTaskQueue(survivor.id),
        `${r.type} after the rebuild was queued for the surviving host`,
      );
      assert.equal(
        pidOf(r.identity),
        survivor.worker.child.pid,
        `${r.type} after the rebuild ran on the surviving host`,
      );
    }
    // Turn 1's work came back from the checkpoint; the rest was done on the survivor, each once.
    const workDir = result.workDir!;
    assert.ok(workDir.startsWith(survivor.root), 'the work was kept on the surviving host');
    assert.equal(readFileSync(path.join(workDir, '1.txt'), 'utf8'), 'turn 1\n');
    assert.equal(readFileSync(path.join(workDir, 'log.txt'), 'utf8'), 'turn 1\nturn 2\nturn 3\n');
    const counts = fake.turnCounts();
    for (let t = 1; t <= TURNS; t++)
      assert.ok((counts.get(t) ?? 0) <= (t === 2 ? 2 : 1), `turn ${t} asked ${counts.get(t)} times`);
  } finally {
    for (const h of hosts) await h.worker.kill('SIGKILL');
    // The killed workers leave their sandboxes' volumes mounted; the hosts' directory goes with them.
    removeTree(path.dirname(roots[0]));
    await fake.close();
  }
});
