/**
 * A crash never costs minutes: for every activity type a night of one agent task and one
 * command task uses, the worker holding its first attempt dies (SIGKILL, at the start of
 * the attempt, see helpers/kill-on-activity-worker.ts) and the workflow history shows the
 * next attempt started within 30 s. For callModel the next attempt is a new activity of the
 * same turn, scheduled once the workflow has booked the one cut off (helpers/recovery-night.ts).
 * Two workers run at all times, as in production, and each dead one is replaced, so what is
 * measured is the server noticing the death. The types only some tasks use (questions, a lost
 * sandbox, delivery to GitHub, simple mode) are in recovery-time-tasks.test.ts, which runs
 * its own night in parallel with this one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startRecordingServer } from '../fakes/notify-servers';
import { recoveryDelays, seededRepo, startKillingWorkers } from '../helpers/recovery-night';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';

const server = devServerForFile();

/** Every activity type the batch, the agent loop, delivery and a command task run in this night (settleDaily: in the other file). */
const TYPES = [
  'storeBatchSpec',
  'readBatchSpecPart',
  'reserveDaily',
  'reserveAllowance',
  'createAgentSandbox',
  'prepareAgent',
  'callModel',
  'runTool',
  'runChecks',
  'commitWork',
  'keepWork',
  'killSandbox',
  'runCommandTask',
  'notify',
  'recordTaskResults',
  'writeStoredReport',
];

test('after a worker dies at the start of any activity, its next attempt starts within 30 s', async () => {
  const config = testConfig(server.env);
  const root = config.root;
  const killDir = path.join(root, 'kills');
  mkdirSync(killDir, { recursive: true });
  seededRepo(root);

  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message(
            [
              toolUse('tu_w', 'write_file', { path: 'a.txt', content: 'a\n' }),
              toolUse('tu_b', 'bash', { command: 'cat a.txt' }),
            ],
            { usage: { input_tokens: 40, output_tokens: 5 } },
          )
        : message([text('Done.'), toolUse('tu_f', 'finish', { summary: 'wrote a.txt', verification: 'cat a.txt' })], {
            usage: { input_tokens: 40, output_tokens: 5 },
          }),
  });
  const hook = await startRecordingServer({ kind: 'webhook' });
  const vars = {
    NIGHTSHIFT_ROOT: root,
    TEMPORAL_ADDRESS: server.env.address,
    TEMPORAL_NAMESPACE: 'default',
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
    NIGHTSHIFT_WEBHOOK_URL: hook.url,
    NIGHTSHIFT_TEST_KILL_ON: TYPES.join(','),
    NIGHTSHIFT_TEST_KILL_DIR: killDir,
  };

  const pool = await startKillingWorkers(vars, 2);
  try {
    const spec = {
      max_cost_usd: 5,
      daily_max_cost_usd: 20,
      tasks: [
        {
          id: 'agent',
          title: 'Write a.txt',
          description: 'Write a.txt with one line.',
          context: { repo: 'repo' },
          agent_config: { model: 'haiku', max_turns: 6 },
          checks: ['test -f a.txt'],
        },
        { id: 'cmd', title: 'A command', command: 'echo command ran' },
      ],
    };
    const handle = await server.env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: uniqueBatchId('recovery'),
      args: [{ spec }],
    });
    const result = (await handle.result()) as BatchResult;
    assert.deepEqual(
      result.tasks.map((t) => `${t.taskId}:${t.status}`),
      ['agent:succeeded', 'cmd:succeeded'],
      JSON.stringify(result.tasks.map((t) => t.error)),
    );
    await recoveryDelays(server.env, killDir, TYPES);
  } finally {
    await pool.stop();
    await fake.close();
    await hook.close();
  }
});
