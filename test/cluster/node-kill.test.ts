/**
 * A night on the two-node cluster of `npm run cluster` (real server processes on real
 * PostgreSQL) survives losing one Temporal node: node A is SIGKILLed while task a's turn is
 * in flight and started again; the worker and client stay on node B. Node A's history
 * shards and task-queue partitions move to B and back, and the night ends with every task
 * done and no model turn or tool run twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { TASK_QUEUE } from '../../contract';
import type { MessagesReply, MessagesRequest } from '../../demo/messages-server';
import type { BatchResult } from '../../contract';
import { createNightshiftWorker } from '../../worker';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { clusterConfig, clusterForFile, liveMembersByRole } from '../helpers/cluster';
import { seededRepo } from '../helpers/recovery-night';
import { uniqueBatchId } from '../helpers/temporal';

const file = clusterForFile();

const TURNS = 5;
/** Task a's turn during which node A dies. */
const KILL_AT_TURN = 3;

const taskOf = (req: MessagesRequest) =>
  JSON.stringify(req.body.messages?.[0]?.content ?? '').includes('Start on task b:') ? 'b' : 'a';

/** Turn t of task `id` appends one line to log.txt with bash (a repeat would show); the last turn finishes. */
function scripted(id: string, turn: number): MessagesReply {
  if (turn === TURNS)
    return message(
      [
        text('Done.'),
        toolUse(`tu_${id}_${turn}_fin`, 'finish', { summary: `task ${id} done`, verification: 'cat log.txt' }),
      ],
      { usage: { input_tokens: 40, output_tokens: 5 } },
    );
  return message([toolUse(`tu_${id}_${turn}`, 'bash', { command: `echo "${id} turn ${turn}" >> log.txt` })], {
    usage: { input_tokens: 40, output_tokens: 5 },
  });
}

test('SIGKILL one of the two Temporal nodes mid-night and start it again: the night completes and nothing runs twice', async () => {
  const cluster = file.cluster;
  const nodeB = cluster.nodes[1];
  const config = clusterConfig(cluster, nodeB.address);
  seededRepo(config.root);
  assert.deepEqual(
    liveMembersByRole(cluster),
    { 1: 2, 2: 2, 3: 2, 4: 2 },
    'both nodes run all four services in one ring',
  );

  const clientConnection = await Connection.connect({ address: nodeB.address });
  const client = new Client({ connection: clientConnection, namespace: cluster.namespace });
  let killed: Promise<{ oldPid: number; newPid: number }> | undefined;
  let batchDoneAtKill: boolean | undefined;
  let workflowId = '';
  const fake = await startFakeAnthropic({
    byTurn: async (turn, req) => {
      const id = taskOf(req);
      if (id === 'a' && turn === KILL_AT_TURN && !killed) {
        const nodeA = cluster.nodes[0];
        const oldPid = nodeA.pid!;
        await nodeA.kill('SIGKILL');
        batchDoneAtKill = (await client.workflow.getHandle(workflowId).describe()).status.name !== 'RUNNING';
        // The night goes on against node B while node A comes back.
        killed = nodeA.restart().then(() => ({ oldPid, newPid: nodeA.pid! }));
      }
      return scripted(id, turn);
    },
  });

  const connection = await NativeConnection.connect({ address: nodeB.address });
  const worker = await createNightshiftWorker({
    config: { ...config, anthropic: { apiKey: 'sk-test', baseUrl: fake.url } },
    connection,
  });
  try {
    const spec = {
      max_cost_usd: 5,
      tasks: ['a', 'b'].map((id) => ({
        id,
        title: `Log the turns of ${id}`,
        description: `Append one line per turn to log.txt (task ${id}).`,
        context: { repo: 'repo' },
        agent_config: { model: 'haiku', max_turns: TURNS + 2 },
        ...(id === 'b' ? { depends_on: ['a'] } : {}),
      })),
    };
    workflowId = uniqueBatchId('cluster-node-kill');
    const handle = await client.workflow.start('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId, args: [{ spec }] });
    const result = (await worker.runUntil(handle.result())) as BatchResult;

    assert.ok(killed, `node A was killed during task a's turn ${KILL_AT_TURN}`);
    const { oldPid, newPid } = await killed;
    assert.notEqual(newPid, oldPid, 'node A runs as a new process');
    assert.equal(batchDoneAtKill, false, 'the night was still running when node A died');

    assert.equal(fake.exhausted, undefined);
    assert.deepEqual(
      result.tasks.map((t) => [t.taskId, t.status, t.turns]),
      [
        ['a', 'succeeded', TURNS],
        ['b', 'succeeded', TURNS],
      ],
      JSON.stringify(result.tasks.map((t) => ({ id: t.taskId, status: t.status, error: t.error }))),
    );
    // Every turn of every task was asked for once: none lost, none repeated.
    const asked = new Map<string, number>();
    for (const r of fake.requests) asked.set(`${taskOf(r)}:${r.turn}`, (asked.get(`${taskOf(r)}:${r.turn}`) ?? 0) + 1);
    for (const id of ['a', 'b'])
      for (let t = 1; t <= TURNS; t++)
        assert.equal(asked.get(`${id}:${t}`), 1, `task ${id} turn ${t} asked ${asked.get(`${id}:${t}`)} times`);
    // Every bash call ran once: the kept workspace's log has each turn's line once, in order.
    for (const t of result.tasks) {
      const lines = readFileSync(path.join(t.workDir!, 'log.txt'), 'utf8').split('\n').filter(Boolean);
      const own = lines.filter((l) => l.startsWith(`${t.taskId} `));
      assert.deepEqual(
        own,
        Array.from({ length: TURNS - 1 }, (_, i) => `${t.taskId} turn ${i + 1}`),
      );
    }

    // The restarted node serves the same cluster: it sees the finished night in the shared database.
    const viaA = await Connection.connect({ address: cluster.nodes[0].address });
    try {
      const d = await new Client({ connection: viaA, namespace: cluster.namespace }).workflow
        .getHandle(workflowId)
        .describe();
      assert.equal(d.status.name, 'COMPLETED');
    } finally {
      await viaA.close();
    }
  } finally {
    await killed?.catch(() => undefined);
    await clientConnection.close();
    await connection.close();
    await fake.close();
    await shutdownIsolation();
  }
});
