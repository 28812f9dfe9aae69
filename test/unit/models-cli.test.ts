/** `nightshift models`, the model warnings of validate and start, and the API's answer for a model it does not have. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createModelActivities } from '../../activities/model/call-model';
import { FileTranscriptStore, keys, putJson } from '../../activities/task/transcripts';
import { modelWarnings } from '../../client/commands/models';
import { parseBatchYaml } from '../../taskfile/load';
import { modelNotFound, startFakeAnthropic } from '../fakes/anthropic-server';
import { nightshiftBin } from '../helpers/bin';

const run = promisify(execFile);
const BIN = nightshiftBin();

function root(): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'nightshift-models-cli-'));
  mkdirSync(path.join(r, 'tasks'));
  writeFileSync(
    path.join(r, 'tasks', 'night.yaml'),
    [
      'date: 2026-11-29',
      'tasks:',
      '  - { id: old, agent_config: { model: claude-sonnet-4-5 } }',
      '  - { id: typo, agent_config: { model: claude-sonet-5-5 } }',
      '  - { id: plain }',
      '',
    ].join('\n'),
  );
  return r;
}
const nightshift = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NIGHTSHIFT_ROOT: cwd, NIGHTSHIFT_MODELS_FILE: '', ...env },
  });

test('nightshift models --json lists the aliases and every model with its prices, limits and request rules', async () => {
  const r = root();
  const { stdout } = await nightshift(r, ['models', '--json']);
  const l = JSON.parse(stdout) as {
    aliases: Record<string, string>;
    models: {
      id: string;
      aliases: string[];
      prices: { input: number };
      forcedToolUse: string;
      endOfLife: string | null;
    }[];
    modelsFile?: string;
  };
  assert.deepEqual(l.aliases, { haiku: 'claude-haiku-5-5', sonnet: 'claude-sonnet-5-5', opus: 'claude-opus-5-5' });
  const byId = new Map(l.models.map((m) => [m.id, m]));
  assert.deepEqual(byId.get('claude-sonnet-5-5')?.aliases, ['sonnet']);
  assert.equal(byId.get('claude-opus-5-5')?.forcedToolUse, 'rejected');
  assert.equal(byId.get('claude-sonnet-4-5')?.endOfLife, '2026-11-30');
  assert.equal(l.modelsFile, undefined);

  // With a user file, the listing is the table in force.
  const file = path.join(r, 'models.json');
  writeFileSync(file, JSON.stringify({ aliases: { sonnet: 'claude-sonnet-5' } }));
  const over = JSON.parse(
    (await nightshift(r, ['models', '--json'], { NIGHTSHIFT_MODELS_FILE: file })).stdout,
  ) as typeof l;
  assert.equal(over.aliases.sonnet, 'claude-sonnet-5');
  assert.equal(over.modelsFile, file);
});

test('validate warns (and still succeeds) for a model near its end of life and for a typo, with did-you-mean', async () => {
  const r = root();
  const json = await nightshift(r, ['validate', 'tasks/night.yaml', '--json']);
  const out = JSON.parse(json.stdout) as { ok: boolean; warnings: string[] };
  assert.equal(out.ok, true);
  // The preflight's own warnings (no repository, say) come after the model's.
  assert.deepEqual(out.warnings.slice(0, 2), [
    'task old: model claude-sonnet-4-5 reaches its end of life on 2026-11-30, 1 day after 2026-11-29 (the current one is claude-sonnet-5-5)',
    'task typo: model "claude-sonet-5-5" is not in the model table (did you mean claude-sonnet-5-5 or claude-sonnet-4-5?); if the API knows it, it is charged at the dearest row; see nightshift models',
  ]);
  const text = await nightshift(r, ['validate', 'tasks/night.yaml']);
  assert.match(text.stdout, /3 tasks in 1 phase/);
  assert.match(text.stderr, /^warning: task old: model claude-sonnet-4-5 reaches its end of life/m);
  assert.match(text.stderr, /^warning: task typo: .*did you mean claude-sonnet-5-5/m);
});

test('model warnings: past the end of life, the 14-day edge, and tasks on a current model say nothing', () => {
  const spec = parseBatchYaml(
    'tasks:\n  - { id: a, agent_config: { model: claude-sonnet-4-5-20250929 } }\n  - { id: b, estimated_complexity: high }\n  - { id: c, command: "true" }\n',
    'x.yaml',
  );
  assert.deepEqual(modelWarnings(spec, '2026-12-01'), [
    'task a: model claude-sonnet-4-5-20250929 reached its end of life on 2026-11-30; its requests will fail (the current one is claude-sonnet-5-5)',
  ]);
  assert.deepEqual(modelWarnings(spec, '2026-11-16'), [
    'task a: model claude-sonnet-4-5-20250929 reaches its end of life on 2026-11-30, 14 days after 2026-11-16 (the current one is claude-sonnet-5-5)',
  ]);
  assert.deepEqual(modelWarnings(spec, '2026-11-15'), [], '15 days ahead is not yet worth a warning');
});

test('a model the API does not have fails the call at once with a clear error, not a retry', async () => {
  const fake = await startFakeAnthropic({ script: [modelNotFound('claude-sonet-5-5')] });
  try {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-404-'));
    const transcripts = new FileTranscriptStore({ dir });
    await putJson(transcripts, 'night/t', keys.prompt, { system: 'You are a test.', firstMessage: 'Go.' });
    const acts = createModelActivities({
      anthropic: new Anthropic({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 }),
      transcripts,
    });
    await assert.rejects(
      new MockActivityEnvironment().run(acts.callModel, { workflowId: 'night/t', turn: 1, model: 'claude-sonet-5-5' }),
      (e: Error) => {
        assert.equal(e.name, 'ModelRequestInvalid');
        assert.equal(
          e.message,
          "the model API does not know this model (HTTP 404 not_found_error: model: claude-sonet-5-5); check the task's agent_config.model against `nightshift models`",
        );
        return true;
      },
    );
    assert.equal(fake.requests.length, 1);
  } finally {
    await fake.close();
  }
});

test('with an API key, validate fails on a model the API does not offer, naming the offered ones; an unreachable API is a warning', async () => {
  const r = root();
  writeFileSync(
    path.join(r, 'tasks', 'good.yaml'),
    'date: 2026-11-29\ntasks:\n  - { id: plain }\n  - { id: dated, agent_config: { model: claude-haiku-5-5 } }\n',
  );
  // The API offers a dated snapshot for the alias target and the current models; the typo matches nothing.
  const fake = await startFakeAnthropic({
    models: ['claude-sonnet-5-5', 'claude-haiku-5-5-20261001', 'claude-opus-5-5', 'claude-sonnet-4-5-20250929'],
  });
  try {
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.url };
    const bad = await nightshift(r, ['validate', 'tasks/night.yaml'], env).then(
      () => assert.fail('validate passed a model the API does not offer'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(bad.code, 3);
    assert.match(
      bad.stderr,
      /tasks\/night\.yaml:4 typo: model: the model API does not offer "claude-sonet-5-5"; did you mean claude-sonnet-5-5/,
    );
    // claude-sonnet-4-5 is offered as its dated snapshot.
    assert.doesNotMatch(bad.stderr, /"claude-sonnet-4-5"/);
    const json = await nightshift(r, ['validate', 'tasks/night.yaml', '--json'], env).catch(
      (e: { stdout: string }) => e,
    );
    assert.deepEqual(
      (JSON.parse(json.stdout) as { issues: { path: string }[] }).issues.map((i) => i.path),
      ['typo: model'],
    );
    const good = await nightshift(r, ['validate', 'tasks/good.yaml'], env);
    assert.match(good.stdout, /2 tasks in 1 phase/);
  } finally {
    await fake.close();
  }
  // Nothing answers there now: the check is skipped with a warning, not a failure.
  const offline = await nightshift(r, ['validate', 'tasks/good.yaml'], {
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: fake.url,
  });
  assert.match(offline.stderr, /^warning: model names not checked against the API: /m);
});
