/**
 * Two hosts that share no disk, only the postgres state store and the two-node Temporal
 * cluster (`npm run cluster`): each worker has its own NIGHTSHIFT_ROOT scratch directory,
 * its own host ID and its own Temporal node. Host A does turns of a repository task (each
 * file edit checkpointed and exported to the store), then dies by SIGKILL (mid-task, or
 * while committing the finished work) and its directory is deleted. Host B, started only
 * then, takes the transcript and the last checkpoint from the store and finishes the night,
 * the dependent task too: no model turn is asked twice, the pull request holds A's work,
 * and the report is in the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startBatch } from '../../client/commands/batch';
import { PostgresStateStore } from '../../common/store/postgres';
import type { NightshiftConfig } from '../../common/config';
import type { MessagesReply } from '../../demo/messages-server';
import { taskRunKey } from '../../workflows/task/messages';
import { taskWorkflowId, type BatchResult } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { clusterConfig, clusterForFile } from '../helpers/cluster';
import type { KillRecord } from '../helpers/kill-on-activity-worker';
import { removeTree } from '../helpers/mounts';
import { scratchDir } from '../helpers/outside-tmp';
import { uniqueBatchId } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { git, GITHUB_REPO, remote, taskOf } from '../delivery/helpers';

const file = clusterForFile({ storeDatabase: 'nightshift' });

const KILLING_WORKER = path.join(__dirname, '..', 'helpers', 'kill-on-activity-worker.ts');
/** The task host A starts, and the one that depends on it (run by B, from the first one's branch). */
const TASK = 'carry';
const NEXT = 'follow';
const TURNS = 4;
const DATE = '2026-11-23';

/** Task `carry`: turn t writes t.txt and appends a line to log.txt (a tool run twice would show); the last turn finishes. */
function scripted(task: string, turn: number): MessagesReply {
  const usage = { input_tokens: 40, output_tokens: 5 };
  if (task === NEXT) {
    if (turn === 1)
      return message([toolUse('tu_next_w', 'write_file', { path: 'next.txt', content: 'built on carry\n' })], {
        usage,
      });
    return message(
      [text('Done.'), toolUse('tu_next_fin', 'finish', { summary: 'wrote next.txt', verification: 'cat next.txt' })],
      { usage },
    );
  }
  if (turn === TURNS)
    return message(
      [
        text('Done.'),
        toolUse(`tu_fin`, 'finish', { summary: 'wrote the numbered files', verification: 'cat log.txt' }),
      ],
      { usage },
    );
  return message(
    [
      toolUse(`tu_${turn}_w`, 'write_file', { path: `${turn}.txt`, content: `turn ${turn}\n` }),
      toolUse(`tu_${turn}_b`, 'bash', { command: `echo "turn ${turn}" >> log.txt` }),
    ],
    { usage },
  );
}

function nightYaml(bare: string): string {
  return [
    `date: ${DATE}`,
    `pull_request: { repo: ${GITHUB_REPO}, labels: [nightshift] }`,
    'tasks:',
    `  - id: ${TASK}`,
    '    title: Write the numbered files',
    '    description: Write 1.txt to 3.txt and log each turn in log.txt.',
    `    context: { repo: ${JSON.stringify(bare)} }`,
    `    agent_config: { model: haiku, max_turns: ${TURNS + 4} }`,
    `  - id: ${NEXT}`,
    '    title: Build on the numbered files',
    `    depends_on: [${TASK}]`,
    `    context: { repo: ${JSON.stringify(bare)} }`,
    '    agent_config: { model: haiku, max_turns: 4 }',
  ].join('\n');
}

interface KillPoint {
  /** What host A was doing when it died. */
  doing: string;
  /** The activity whose start kills host A. */
  activity: string;
  /** Spares that activity in earlier turns. */
  fromTurn?: number;
}

const KILL_POINTS: KillPoint[] = [
  { doing: 'at the first tool call of turn 3', activity: 'runTool', fromTurn: 3 },
  { doing: 'as it was committing the finished work', activity: 'commitWork' },
];

for (const kill of KILL_POINTS) {
  test(`host A dies ${kill.doing}, disk and all: host B resumes from the postgres store, pays no turn twice, and delivers the work of A`, async () => {
    const cluster = file.cluster;
    const storeUrl = cluster.postgres.urlFor('nightshift');
    const bare = remote();
    const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
    const answered = new Map<string, number>();
    const fake = await startFakeAnthropic({
      byTurn: (turn, req) => {
        const who = `${taskOf(req)}#${turn}`;
        answered.set(who, (answered.get(who) ?? 0) + 1);
        return scripted(taskOf(req), turn);
      },
    });
    const killDir = scratchDir('kills');
    const roots = { a: scratchDir('host-a'), b: scratchDir('host-b'), client: scratchDir('client') };
    const hostEnv = (host: 'a' | 'b', address: string): Record<string, string> => ({
      NIGHTSHIFT_ROOT: roots[host],
      NIGHTSHIFT_HOST_ID: `two-hosts-${host}-${process.pid}`,
      NIGHTSHIFT_STORE: storeUrl,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: cluster.namespace,
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: fake.url,
      GITHUB_TOKEN: 'ghs_test',
      GITHUB_API_URL: gh.url,
    });
    const workers: WorkerProcess[] = [];
    const connection = await Connection.connect({ address: cluster.addresses[0] });
    const client = new Client({ connection, namespace: cluster.namespace });
    const store = await PostgresStateStore.open(storeUrl);
    try {
      const hostA = await spawnWorker(
        {
          ...hostEnv('a', cluster.addresses[0]),
          NIGHTSHIFT_TEST_KILL_ON: kill.activity,
          NIGHTSHIFT_TEST_KILL_DIR: killDir,
          ...(kill.fromTurn ? { NIGHTSHIFT_TEST_KILL_FROM_TURN: String(kill.fromTurn) } : {}),
        },
        120_000,
        { entry: KILLING_WORKER },
      );
      workers.push(hostA);

      const clientConfig: NightshiftConfig = {
        ...clusterConfig(cluster, cluster.addresses[0], roots.client),
        store: { kind: 'postgres', url: storeUrl },
      };
      mkdirSync(path.join(roots.client, 'tasks'));
      const night = path.join(roots.client, 'tasks', 'night.yaml');
      writeFileSync(night, nightYaml(bare));
      const batchId = uniqueBatchId('two-hosts');
      await startBatch(client, clientConfig, night, { workflowId: batchId });

      // Host A goes, disk and all; only then does host B exist, so nothing of A's reaches B but through the store.
      await hostA.exited;
      removeTree(roots.a);
      const killed = JSON.parse(readFileSync(path.join(killDir, `${kill.activity}.json`), 'utf8')) as KillRecord;
      assert.equal(killed.workflowId, taskWorkflowId(batchId, TASK), `host A died in ${TASK}`);
      if (kill.fromTurn) assert.equal(killed.turn, kill.fromTurn, `host A died in turn ${kill.fromTurn}`);
      workers.push(await spawnWorker(hostEnv('b', cluster.addresses[1]), 120_000));

      const result: BatchResult = await client.workflow.getHandle(batchId).result();
      const [task, next] = [TASK, NEXT].map((id) => result.tasks.find((t) => t.taskId === id));
      assert.ok(task && next, 'both tasks are in the result');
      assert.equal(task.status, 'succeeded', task.error);
      assert.equal(next.status, 'succeeded', next.error);
      assert.equal(task.sandboxesLost, 1, 'the lost sandbox is counted');
      assert.equal(task.deliveryError, undefined, task.deliveryError);
      assert.equal(existsSync(roots.a), false, "host A's directory stayed gone");

      // Every model turn was asked and answered exactly once: B took A's turns from the stored transcript.
      for (let turn = 1; turn <= TURNS; turn++)
        assert.equal(
          answered.get(`${TASK}#${turn}`),
          1,
          `${TASK} turn ${turn} answered ${answered.get(`${TASK}#${turn}`) ?? 0} times`,
        );
      for (const turn of [1, 2])
        assert.equal(
          answered.get(`${NEXT}#${turn}`),
          1,
          `${NEXT} turn ${turn} answered ${answered.get(`${NEXT}#${turn}`) ?? 0} times`,
        );

      // The branch holds A's turns (restored from the exported checkpoint) and B's, each tool run once.
      assert.ok(task.commit && task.branch, 'the work was committed on a branch');
      assert.equal(git(bare, 'rev-parse', `refs/heads/${task.branch}`), task.commit, 'the branch was pushed');
      const show = (commit: string, f: string) => git(bare, 'show', `${commit}:${f}`);
      for (let turn = 1; turn < TURNS; turn++) assert.equal(show(task.commit, `${turn}.txt`), `turn ${turn}`);
      assert.equal(show(task.commit, 'log.txt'), 'turn 1\nturn 2\nturn 3');
      // The dependent task started from that branch.
      assert.ok(next.commit, `${NEXT} committed its work`);
      assert.equal(git(bare, 'rev-parse', `${next.commit}^`), task.commit, `${NEXT} builds on ${TASK}'s commit`);
      assert.equal(show(next.commit, 'next.txt'), 'built on carry');
      const pulls = gh.pulls(GITHUB_REPO);
      assert.deepEqual(
        pulls.map((p) => p.head.sha).sort(),
        [task.commit, next.commit].sort(),
        'one pull request per task',
      );
      assert.equal(task.prUrl, pulls.find((p) => p.head.sha === task.commit)?.html_url);

      // The morning report outlives both hosts: it is in the store.
      const reports = await store.list('results', batchId);
      const markdown = reports.find((k) => k.endsWith('-report.md'));
      assert.ok(markdown, `the report is in the store (${reports.join(', ') || 'nothing'})`);
      const report = (await store.get('results', batchId, markdown)) ?? '';
      for (const id of [TASK, NEXT]) assert.match(report, new RegExp(id));
      const taskRun = await client.workflow.getHandle(taskWorkflowId(batchId, TASK)).describe();
      const firstRunId = taskRun.raw.workflowExecutionInfo?.firstRunId;
      assert.ok(firstRunId, 'the server names the first run of the task');
      const transcript = await store.list('transcripts', taskRunKey(taskWorkflowId(batchId, TASK), firstRunId));
      assert.ok(
        transcript.includes('prompt.json') && transcript.filter((k) => /^turn-\d+\.json$/.test(k)).length === TURNS,
        `the transcript is in the store: ${transcript.join(', ')}`,
      );
    } finally {
      for (const w of workers) await w.kill('SIGKILL');
      await store.close();
      await connection.close();
      await fake.close();
      await gh.close();
      removeTree(roots.a);
      removeTree(roots.b);
    }
  });
}
