/**
 * A crash never costs minutes, second half (the first is recovery-time.test.ts): the
 * activity types only some tasks use. A night runs, side by side, an agent task that asks a
 * question answered by signal, one whose sandbox is deleted mid-task and one that pushes to a
 * bare repository and opens a PR on the loopback GitHub, under a daily cap; then a night of
 * one simple-mode task. The worker holding the first attempt of each of those types (and of
 * the day's settlement) dies (SIGKILL) and the history shows the next attempt started within
 * 30 s. Three workers run at all times and each dead one is replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import { TASK_QUEUE, taskWorkflowId, type BatchResult, type TaskStatus } from '../../contract';
import type { MessagesRequest } from '../../demo/messages-server';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { startRecordingServer } from '../fakes/notify-servers';
import { git, GITHUB_REPO, remote, taskOf } from '../delivery/helpers';
import type { KillRecord } from '../helpers/kill-on-activity-worker';
import { removeTree } from '../helpers/mounts';
import { recoveryDelays, seededRepo, startKillingWorkers } from '../helpers/recovery-night';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';

const server = devServerForFile();

/**
 * The activity types killed here: questions, a lost sandbox, delivery to a remote, the day's
 * settlement (when the first task ends, so not beside the batch's report as in the other
 * file, whose first attempt the same death would take), simple mode.
 */
const TYPES = [
  'recordQuestion',
  'recordAnswer',
  'recreateAgentSandbox',
  'pushWork',
  'openPullRequest',
  'settleDaily',
  'simpleModelCall',
];

const usage = { input_tokens: 40, output_tokens: 5 };
const finish = (turn: number, summary: string) =>
  message([text('Done.'), toolUse(`tu_f${turn}`, 'finish', { summary, verification: 'read it back' })], { usage });

test('after a worker dies at the start of a question, sandbox, delivery or simple-mode activity, its next attempt starts within 30 s', async () => {
  const config = testConfig(server.env);
  const root = config.root;
  const killDir = path.join(root, 'kills');
  mkdirSync(killDir, { recursive: true });
  seededRepo(root);
  const bare = remote();
  const sandboxesDir = path.join(stateDir(config), 'sandboxes');
  let deleted: string[] = [];

  const fake = await startFakeAnthropic({
    byTurn: (turn, req: MessagesRequest) => {
      if (JSON.stringify(req.body.tools ?? []).includes('"write_files"')) {
        return message(
          [
            toolUse('tu_s', 'write_files', {
              files: [{ path: 'simple.txt', content: 'simple\n' }],
              summary: 'wrote simple.txt',
            }),
          ],
          { usage },
        );
      }
      const task = taskOf(req);
      if (task === 'ask') {
        if (turn === 1)
          return message(
            [
              text('I need a decision.'),
              toolUse('tu_ask', 'ask_human', {
                context: 'Two names fit.',
                question: 'Call it a or b?',
                options: ['a', 'b'],
                impact: 'The file name.',
                assumption: 'a',
              }),
            ],
            { usage },
          );
        return finish(turn, 'named it');
      }
      if (task === 'lost') {
        if (turn === 1)
          return message([toolUse('tu_l1', 'write_file', { path: 'plan.md', content: 'step one\n' })], { usage });
        if (turn === 2) {
          // The task's sandbox disappears while the model thinks: the next tool call rebuilds it.
          const gone = readdirSync(sandboxesDir).filter((d) => d.startsWith('sbx-') && d.includes('-lost-'));
          for (const d of gone) removeTree(path.join(sandboxesDir, d));
          deleted = [...deleted, ...gone];
          return message([toolUse('tu_l2', 'bash', { command: 'cat plan.md' })], { usage });
        }
        return finish(turn, 'kept going');
      }
      if (turn === 1)
        return message([toolUse('tu_d', 'write_file', { path: 'delivered.txt', content: 'delivered\n' })], { usage });
      return finish(turn, 'wrote delivered.txt');
    },
  });
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const hook = await startRecordingServer({ kind: 'webhook' });
  const vars = {
    NIGHTSHIFT_ROOT: root,
    TEMPORAL_ADDRESS: server.env.address,
    TEMPORAL_NAMESPACE: 'default',
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
    GITHUB_TOKEN: 'ghs_test',
    GITHUB_API_URL: gh.url,
    NIGHTSHIFT_WEBHOOK_URL: hook.url,
    NIGHTSHIFT_TEST_KILL_ON: TYPES.join(','),
    NIGHTSHIFT_TEST_KILL_DIR: killDir,
  };

  const pool = await startKillingWorkers(vars, 3);
  try {
    // Only `deliver` opens a PR, so the openPullRequest killed is the one on the loopback GitHub.
    const agent = { agent_config: { model: 'haiku', max_turns: 6 }, on_completion: { create_pr: false } };
    const night = (tasks: object[]) => {
      const batchId = uniqueBatchId('recovery');
      const spec = { max_cost_usd: 5, daily_max_cost_usd: 20, max_concurrent_agents: 4, tasks };
      return {
        batchId,
        started: server.env.client.workflow.start('nightlyBatch', {
          taskQueue: TASK_QUEUE,
          workflowId: batchId,
          args: [{ spec }],
        }),
      };
    };
    const first = night([
      { id: 'ask', title: 'Name a file', description: 'Ask which name to use.', context: { repo: 'repo' }, ...agent },
      {
        id: 'lost',
        title: 'Survive a lost sandbox',
        description: 'Write plan.md, then read it.',
        context: { repo: 'repo' },
        ...agent,
      },
      {
        id: 'deliver',
        title: 'Deliver a file',
        description: 'Write delivered.txt.',
        context: { repo: bare },
        pull_request: { repo: GITHUB_REPO },
        ...agent,
        on_completion: { create_pr: true },
      },
    ]);
    const handle = await first.started;

    // The question is answered by signal once it is open; queries fail while no worker is up, so keep asking.
    const asker = server.env.client.workflow.getHandle(taskWorkflowId(first.batchId, 'ask'));
    for (;;) {
      const status = await asker.query<TaskStatus>('status').catch(() => undefined);
      if (status?.questions?.length) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await asker.signal('answer', { text: 'Use a.' });

    const result = (await handle.result()) as BatchResult;
    assert.deepEqual(
      result.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['ask:succeeded', 'lost:succeeded', 'deliver:succeeded'],
      JSON.stringify(result.tasks.map((t) => t.error)),
    );
    assert.ok(deleted.length >= 1, 'the test removed the lost task sandbox');
    const delivered = result.tasks.find((t) => t.taskId === 'deliver')!;
    assert.equal(
      git(bare, 'rev-parse', `refs/heads/${delivered.branch}`),
      delivered.commit,
      'the branch reached the remote',
    );
    assert.equal(gh.pulls(GITHUB_REPO).length, 1, 'one PR, however many times openPullRequest started');
    const killedPr = JSON.parse(readFileSync(path.join(killDir, 'openPullRequest.json'), 'utf8')) as KillRecord;
    assert.equal(
      killedPr.workflowId,
      taskWorkflowId(first.batchId, 'deliver'),
      'the openPullRequest killed was the one on the loopback GitHub',
    );

    // The simple-mode call gets a night to itself: its next attempt waits for a heartbeat
    // timeout and then a reservation (a workflow task and an activity), so another death in
    // that window, from a kill meant for another type, would add its own timeout to the
    // measurement.
    const second = night([
      {
        id: 'simple',
        title: 'Write simple.txt',
        description: 'Write simple.txt.',
        context: { repo: 'repo' },
        simple_mode: true,
        model_api: 'messages',
        agent_config: { model: 'haiku' },
        on_completion: { create_pr: false },
      },
    ]);
    const simple = (await (await second.started).result()) as BatchResult;
    assert.deepEqual(
      simple.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['simple:succeeded'],
      JSON.stringify(simple.tasks.map((t) => t.error)),
    );

    await recoveryDelays(server.env, killDir, TYPES);
  } finally {
    await pool.stop();
    await Promise.all([fake.close(), gh.close(), hook.close()]);
  }
});
