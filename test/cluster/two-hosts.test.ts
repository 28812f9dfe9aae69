/**
 * Two hosts that share no disk, only the postgres state store and the two-node Temporal
 * cluster (`npm run cluster`): each worker has its own NIGHTSHIFT_ROOT scratch directory,
 * its own host ID and its own Temporal node. Host A does the first turns of a repository
 * task (each file edit checkpointed and exported to the store), then dies by SIGKILL as the
 * next tool call reaches it, and its directory is deleted. Host B, started only then, takes
 * the transcript and the last checkpoint from the store and finishes the night: no model
 * turn is asked twice, the pull request holds A's work, and the report is in the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startBatch } from '../../client/commands/batch';
import { PostgresStateStore } from '../../common/store/postgres';
import type { NightshiftConfig } from '../../common/config';
import type { MessagesReply } from '../../activities/model/messages-server';
import { taskRunKey, taskWorkflowId, type BatchResult } from '../../workflows/contract';
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
const TASK = 'carry';
const TURNS = 4;
/** Host A dies as the first tool call of this turn reaches it: turns before it are A's work. */
const KILL_AT_TURN = 3;
const DATE = '2026-11-23';

/** Turn t writes t.txt and appends a line to log.txt (a tool run twice would show); the last turn finishes. */
function scripted(turn: number): MessagesReply {
  const usage = { input_tokens: 40, output_tokens: 5 };
  if (turn === TURNS) return message([text('Done.'), toolUse(`tu_fin`, 'finish', { summary: 'wrote the numbered files', verification: 'cat log.txt' })], { usage });
  return message([toolUse(`tu_${turn}_w`, 'write_file', { path: `${turn}.txt`, content: `turn ${turn}\n` }), toolUse(`tu_${turn}_b`, 'bash', { command: `echo "turn ${turn}" >> log.txt` })], { usage });
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
  ].join('\n');
}

test('host A dies mid-task with its disk: host B resumes from the postgres store, pays no turn twice, and delivers the work of A', async () => {
  const cluster = file.cluster;
  const storeUrl = cluster.postgres.urlFor('nightshift');
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const answered = new Map<string, number>();
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      const who = `${taskOf(req)}#${turn}`;
      answered.set(who, (answered.get(who) ?? 0) + 1);
      return scripted(turn);
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
      { ...hostEnv('a', cluster.addresses[0]), NIGHTSHIFT_TEST_KILL_ON: 'runTool', NIGHTSHIFT_TEST_KILL_DIR: killDir, NIGHTSHIFT_TEST_KILL_FROM_TURN: String(KILL_AT_TURN) },
      120_000,
      { entry: KILLING_WORKER },
    );
    workers.push(hostA);

    const clientConfig: NightshiftConfig = { ...clusterConfig(cluster, cluster.addresses[0], roots.client), store: { kind: 'postgres', url: storeUrl } };
    mkdirSync(path.join(roots.client, 'tasks'));
    const night = path.join(roots.client, 'tasks', 'night.yaml');
    writeFileSync(night, nightYaml(bare));
    const batchId = uniqueBatchId('two-hosts');
    await startBatch(client, clientConfig, night, { workflowId: batchId });

    // Host A goes, disk and all; only then does host B exist, so nothing of A's reaches B but through the store.
    await hostA.exited;
    removeTree(roots.a);
    const kill = JSON.parse(readFileSync(path.join(killDir, 'runTool.json'), 'utf8')) as KillRecord;
    assert.equal(kill.turn, KILL_AT_TURN, 'host A died at the first tool call of the kill turn');
    workers.push(await spawnWorker(hostEnv('b', cluster.addresses[1]), 120_000));

    const result: BatchResult = await client.workflow.getHandle(batchId).result();
    const task = result.tasks.find((t) => t.taskId === TASK);
    assert.ok(task, 'the task is in the result');
    assert.equal(task.status, 'succeeded', task.error);
    assert.equal(task.sandboxesLost, 1, 'the lost sandbox is counted');
    assert.equal(existsSync(roots.a), false, "host A's directory stayed gone");

    // Every model turn of the task was asked and answered exactly once: B took A's turns from the stored transcript.
    for (let turn = 1; turn <= TURNS; turn++) assert.equal(answered.get(`${TASK}#${turn}`), 1, `turn ${turn} answered ${answered.get(`${TASK}#${turn}`) ?? 0} times`);

    // The branch holds A's turns (restored from the exported checkpoint) and B's, each tool run once.
    assert.ok(task.commit && task.branch, 'the work was committed on a branch');
    assert.equal(git(bare, 'rev-parse', `refs/heads/${task.branch}`), task.commit, 'the branch was pushed');
    const show = (f: string) => git(bare, 'show', `${task.commit}:${f}`);
    for (let turn = 1; turn < TURNS; turn++) assert.equal(show(`${turn}.txt`), `turn ${turn}`);
    assert.equal(show('log.txt'), 'turn 1\nturn 2\nturn 3');
    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 1, 'one pull request');
    assert.equal(pulls[0].head.sha, task.commit);
    assert.equal(task.prUrl, pulls[0].html_url);

    // The morning report outlives both hosts: it is in the store.
    const reports = await store.list('results', batchId);
    const markdown = reports.find((k) => k.endsWith('-report.md'));
    assert.ok(markdown, `the report is in the store (${reports.join(', ') || 'nothing'})`);
    assert.match((await store.get('results', batchId, markdown)) ?? '', new RegExp(TASK));
    const taskRun = await client.workflow.getHandle(taskWorkflowId(batchId, TASK)).describe();
    const firstRunId = taskRun.raw.workflowExecutionInfo?.firstRunId;
    assert.ok(firstRunId, 'the server names the first run of the task');
    const transcript = await store.list('transcripts', taskRunKey(taskWorkflowId(batchId, TASK), firstRunId));
    assert.ok(transcript.includes('prompt.json') && transcript.filter((k) => /^turn-\d+\.json$/.test(k)).length === TURNS, `the transcript is in the store: ${transcript.join(', ')}`);
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
