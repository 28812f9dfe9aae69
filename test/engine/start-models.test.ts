/**
 * `start` asks the model API for its models when a key is set, as `validate` does: a model
 * name the API does not offer starts nothing (exit 3, the task and the field named); an
 * API that cannot be asked is a warning, and the night starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';
import { nightshiftBin } from '../helpers/bin';

const run = promisify(execFile);
const BIN = nightshiftBin();
const server = devServerForFile();

type Run = { code: number; stdout: string; stderr: string };

function nightshift(root: string, args: string[], env: Record<string, string>): Promise<Run> {
  return run(process.execPath, [BIN, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: server.env.address,
      NIGHTSHIFT_ROOT: root,
      NIGHTSHIFT_MODELS_FILE: '',
      NIGHTSHIFT_DEBUG: '',
      ...env,
    },
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

async function exists(id: string): Promise<boolean> {
  return server.env.client.workflow
    .getHandle(id)
    .describe()
    .then(
      () => true,
      (err: unknown) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err)),
    );
}

test('start refuses a model the API does not offer, and starts when the API cannot be asked', async () => {
  const { root } = testConfig(server.env);
  mkdirSync(path.join(root, 'tasks'));
  writeFileSync(
    path.join(root, 'tasks', 'night.yaml'),
    'date: 2026-11-29\ntasks:\n  - { id: plain }\n  - { id: typo, agent_config: { model: claude-sonet-5-5 } }\n',
  );
  writeFileSync(path.join(root, 'tasks', 'good.yaml'), 'date: 2026-11-29\ntasks:\n  - { id: plain }\n');
  const fake = await startFakeAnthropic({ models: ['claude-sonnet-5-5', 'claude-haiku-5-5', 'claude-opus-5-5'] });
  const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.url };
  try {
    const refused = uniqueBatchId('start-models');
    const bad = await nightshift(root, ['start', 'tasks/night.yaml', '--workflow-id', refused], env);
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(
      bad.stderr,
      /tasks\/night\.yaml:4 typo: model: the model API does not offer "claude-sonet-5-5"; did you mean claude-sonnet-5-5/,
    );
    assert.equal(await exists(refused), false, 'nothing was started');

    const started = uniqueBatchId('start-models');
    const good = await nightshift(root, ['start', 'tasks/good.yaml', '--workflow-id', started], env);
    assert.equal(good.code, 0, good.stderr);
    assert.doesNotMatch(good.stderr, /not checked against the API/);
    assert.equal(await exists(started), true);
    await server.env.client.workflow.getHandle(started).terminate('test over');
  } finally {
    await fake.close();
  }
  // Nothing answers there now: a warning, and the night starts.
  const offline = uniqueBatchId('start-models');
  const r = await nightshift(root, ['start', 'tasks/good.yaml', '--workflow-id', offline], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: model names not checked against the API: /m);
  assert.equal(await exists(offline), true);
  await server.env.client.workflow.getHandle(offline).terminate('test over');
});
