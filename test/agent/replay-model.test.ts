/**
 * The demo's offline path: no API key, the example agent task answered by the replay
 * model through the real SDK, run as a night by nightlyBatch. The result must say a
 * replay answered, and the recorded edits must work in the example repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TASK_QUEUE } from '../../contract';
import { createExampleRepo, EXAMPLE_REPO, EXAMPLE_TASK_FILE, startOfflineExample } from '../../demo/example-repo';
import { promptForTask } from '../../activities/task/prompt';
import { FileTranscriptStore, getJson, keys, transcriptsDir, type ToolRecord } from '../../activities/task/transcripts';
import type { BatchResult } from '../../contract';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { taskRunKey } from '../../workflows/task/messages';
import { deliveryBranch } from '../../workflows/branches';

const REPO_ROOT = path.join(__dirname, '..', '..');

const server = devServerForFile();

test('the example agent task runs offline on the replay model, and says so', async () => {
  const config = testConfig(server.env);
  mkdirSync(path.join(config.root, 'tasks'), { recursive: true });
  copyFileSync(path.join(REPO_ROOT, EXAMPLE_TASK_FILE), path.join(config.root, EXAMPLE_TASK_FILE));
  const replay = await startOfflineExample(config.root);
  try {
    // What the demo does without ANTHROPIC_API_KEY: point the SDK at the replay server.
    const worker = await testWorker(server.env, { ...config, anthropic: { baseUrl: replay.url } });
    const batchId = uniqueBatchId();
    const result: BatchResult = await worker.runUntil(
      server.env.client.workflow.execute('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: batchId,
        args: [{ tasksFile: EXAMPLE_TASK_FILE }],
      }),
    );
    const t = result.tasks[0];
    assert.equal(t.status, 'succeeded', t.error);
    assert.equal(t.replay, true);
    assert.equal(t.model, 'replay:example.json');
    assert.equal(t.costUsd, 0);
    assert.equal(t.turns, 6);
    assert.match(t.summary ?? '', /slugify/);
    assert.match(
      readFileSync(path.join(t.workDir!, 'src/strings.js'), 'utf8'),
      /module\.exports = \{ capitalize, slugify \}/,
    );
    assert.match(readFileSync(path.join(t.workDir!, 'test/slugify.test.js'), 'utf8'), /many-spaces/);
    // The recorded `npm test` really ran in the sandbox, against the replayed edits, and passed.
    const store = new FileTranscriptStore({ dir: transcriptsDir(config) });
    const taskRun = await server.env.client.workflow.getHandle(`${batchId}/example-agent`).describe();
    const npmTest = await getJson<ToolRecord>(
      store,
      taskRunKey(taskRun.workflowId, taskRun.runId),
      keys.tool(5, 'toolu_replay_06'),
    );
    assert.equal(npmTest?.isError, false, npmTest?.content);
    assert.match(npmTest?.content ?? '', /# pass 3/);
    // Delivery: the checks passed and the work is a branch in the demo repository, with a patch.
    assert.equal(t.checks?.passed, true);
    assert.equal(t.deliveryError, undefined);
    assert.equal(t.pushed, true);
    assert.equal(t.branch, deliveryBranch(batchId, result.date, 'example-agent'));
    assert.match(readFileSync(path.join(config.root, t.patchFile!), 'utf8'), /\+function slugify/);
  } finally {
    await replay.close();
  }
});

test('nightshift prompt: the example task prompt holds role, criteria, context file and rules', async () => {
  const config = testConfig(server.env);
  mkdirSync(path.join(config.root, 'tasks'), { recursive: true });
  copyFileSync(path.join(REPO_ROOT, EXAMPLE_TASK_FILE), path.join(config.root, EXAMPLE_TASK_FILE));
  await createExampleRepo(path.join(config.root, EXAMPLE_REPO));
  const p = await promptForTask(EXAMPLE_TASK_FILE, 'example-agent', config.root);
  assert.match(p.system, /senior backend engineer/);
  assert.match(p.system, /slugify\("Hello, World!"\) returns "hello-world"/);
  assert.match(p.system, /### README\.md\n```\n# strings/);
  assert.match(p.system, /Do not stage, commit, push/);
  await assert.rejects(promptForTask(EXAMPLE_TASK_FILE, 'nope', config.root), /no task "nope"/);
});
