/**
 * Simple mode through the Message Batches API, against the strict fake's Batches endpoints
 * (create, retrieve, list, cancel, results as JSONL, expiry) with the real SDK: a night over
 * real repos on a real dev server, and the submit activity's at-most-once rule.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { cancelBatchUpdate, TASK_QUEUE, type BatchResult } from '../../contract';
import { createAnthropicClient } from '../../activities/model/client';
import { startReplayModelServer } from '../../demo/replay-server';
import { customIdFor } from '../../activities/model/batches';
import { createSimpleActivities } from '../../activities/task/simple';
import { FileTranscriptStore, keys, putJson } from '../../activities/task/transcripts';
import { createLocalProvider } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import type { MessagesRequest } from '../../demo/messages-server';
import { badRequest, message, startFakeAnthropic, toolUse, type FakeBatch } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { withModel } from '../agent/helpers';

const server = devServerForFile();
after(async () => {
  await shutdownIsolation();
});

const REPOS = ['alpha', 'beta', 'gamma'];

function makeRepos(root: string): void {
  for (const name of REPOS) {
    const dir = path.join(root, 'checkouts', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'README.md'), `# ${name}\n\nold readme\n`);
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: dir });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'init');
  }
  mkdirSync(path.join(root, 'tasks'), { recursive: true });
  writeFileSync(
    path.join(root, 'tasks', 'repos.yaml'),
    'repos:\n' + REPOS.map((n) => `  - { name: ${n}, path: ../checkouts/${n}, group: docs }\n`).join(''),
  );
}

const repoOf = (body: MessagesRequest['body']) =>
  REPOS.find((r) => JSON.stringify(body.system ?? '').includes(`@${r}`)) ?? 'unknown';
const batchRepo = (b: FakeBatch) => repoOf(b.requests[0].params);

const answer = (repo: string) =>
  message(
    [
      toolUse(`tu_${repo}`, 'write_files', {
        files: [{ path: 'README.md', content: `# ${repo}\n\nregenerated\n` }],
        summary: `Refreshed ${repo}`,
      }),
    ],
    {
      usage: { input_tokens: 10_000, output_tokens: 1_000 },
      model: 'claude-haiku-5-5',
    },
  );

async function runNight(root: string, fakeUrl: string, yaml: string[]): Promise<BatchResult> {
  writeFileSync(path.join(root, 'tasks', 'night.yaml'), yaml.join('\n') + '\n');
  const config = withModel(testConfig(server.env, root), fakeUrl);
  const worker = await testWorker(server.env, config);
  return worker.runUntil(
    server.env.client.workflow.execute('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: uniqueBatchId(),
      args: [{ tasksFile: 'tasks/night.yaml', date: '2026-11-21' }],
    }),
  );
}

const NIGHT = [
  'repos_file: repos.yaml',
  'simple_mode: true',
  'tasks:',
  '  - id: readme',
  '    title: Update README',
  '    group: all',
  '    agent_config: { model: haiku }',
  '    on_completion: { create_pr: false }',
];

test('simple mode uses the Batches API by default: one batch per repo, results read once, half the price, reserved by the request size', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_t, req) => answer(repoOf(req.body)),
    batches: { processAfterMs: 1_500 },
  });
  try {
    const { root } = testConfig(server.env);
    makeRepos(root);
    // A whole 1M window of haiku 5.5 input would reserve over $0.60; the prompt and a bounded snapshot need under $0.02.
    const r = await runNight(
      root,
      fake.url,
      NIGHT.map((l) => (l.includes('agent_config') ? '    agent_config: { model: haiku, max_cost_usd: 0.05 }' : l)),
    );
    assert.deepEqual(
      r.tasks.map((t) => `${t.taskId}:${t.status}`),
      REPOS.map((n) => `readme@${n}:succeeded`),
      JSON.stringify(r.tasks.map((t) => t.error)),
    );
    const batches = fake.batches();
    assert.deepEqual(batches.map(batchRepo).sort(), REPOS, 'one batch per repo, none submitted twice');
    for (const b of batches) {
      assert.equal(b.requests.length, 1);
      assert.match(b.requests[0].custom_id, /^ns-[0-9a-f]{40}-0$/);
      assert.equal(b.resultReads, 1, 'results are downloaded once and then read from the store');
      assert.deepEqual(
        b.requests[0].params.tool_choice,
        { type: 'tool', name: 'write_files' },
        'haiku 5.5 takes forced tool use',
      );
    }
    const bill = fake.billing();
    assert.equal(bill.requests, 3);
    assert.ok(
      bill.billed.every((x) => x.batchId),
      'nothing went through the Messages API',
    );
    for (const name of REPOS) {
      const t = r.tasks.find((x) => x.taskId === `readme@${name}`)!;
      // haiku 5.5: (10,000 × $0.10 + 1,000 × $0.50) per Mtok = $0.0015, half of it in a batch.
      assert.equal(t.costUsd, 0.00075);
      assert.equal(readFileSync(path.join(t.workDir!, 'README.md'), 'utf8'), `# ${name}\n\nregenerated\n`);
    }
    assert.equal(
      Math.round(r.tasks.reduce((a, t) => a + (t.costUsd ?? 0), 0) * 1e9),
      Math.round(bill.costUsd * 1e9),
      'what the tasks booked is what the API billed',
    );
  } finally {
    await fake.close();
  }
});

test('an expired batch and an errored request fall back to the Messages API with a note; model_api: messages never batches', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_t, req) => {
      const repo = repoOf(req.body);
      // beta's batched request errors (its Messages API retry is answered); alpha's batch expires.
      if (repo === 'beta' && req.headers['x-fake-batch']) return badRequest('beta is refused in a batch');
      return answer(repo);
    },
    batches: { processAfterMs: 500, expire: (b) => batchRepo(b) === 'alpha' },
  });
  try {
    const { root } = testConfig(server.env);
    makeRepos(root);
    const yaml = [
      ...NIGHT.slice(0, 3),
      ...NIGHT.slice(3),
      '  - id: plain',
      '    title: Update README',
      '    repo_names: [gamma]',
      '    simple_mode: true',
      '    model_api: messages',
      '    agent_config: { model: haiku }',
      '    on_completion: { create_pr: false }',
    ];
    const r = await runNight(root, fake.url, yaml);
    const byId = new Map(r.tasks.map((t) => [t.taskId, t]));
    for (const id of ['readme@alpha', 'readme@beta', 'readme@gamma', 'plain@gamma'])
      assert.equal(byId.get(id)?.status, 'succeeded', `${id}: ${byId.get(id)?.error}`);
    assert.match(
      (byId.get('readme@alpha')!.notes ?? []).join('\n'),
      /Message Batches API: the batched request expired before the batch processed it; asked the Messages API instead/,
    );
    assert.match(
      (byId.get('readme@beta')!.notes ?? []).join('\n'),
      /Message Batches API: the batched request errored: beta is refused in a batch; asked the Messages API instead/,
    );
    // Expired and errored requests are not billed; the fallbacks are, at the full price.
    assert.equal(byId.get('readme@alpha')!.costUsd, 0.0015);
    assert.equal(byId.get('readme@beta')!.costUsd, 0.0015);
    assert.equal(byId.get('readme@gamma')!.costUsd, 0.00075);
    assert.equal(byId.get('plain@gamma')!.costUsd, 0.0015);
    assert.deepEqual(
      fake.batches().map(batchRepo).sort(),
      ['alpha', 'beta', 'gamma'],
      'model_api: messages submitted no batch',
    );
    const report = readFileSync(path.join(root, (r.report as { markdown: string }).markdown), 'utf8');
    assert.match(report, /expired before the batch processed it/, 'the morning report says why a task paid full price');
  } finally {
    await fake.close();
  }
});

test('a batch still running when the task can wait no longer is canceled, and the task asks the Messages API', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_t, req) => answer(repoOf(req.body)),
    batches: { processAfterMs: 60 * 60_000 },
  });
  try {
    const { root } = testConfig(server.env);
    makeRepos(root);
    // A 2-minute timeout keeps 30 s for the fallback: the batch is given 90 s.
    const yaml = [
      'repos_file: repos.yaml',
      'tasks:',
      '  - id: quick',
      '    title: Update README',
      '    repo_names: [alpha]',
      '    simple_mode: true',
      '    model_api: batch',
      '    timeout: 2m',
      '    agent_config: { model: haiku }',
      '    on_completion: { create_pr: false }',
    ];
    const r = await runNight(root, fake.url, yaml);
    const t = r.tasks[0];
    assert.equal(t.status, 'succeeded', t.error);
    assert.match(
      (t.notes ?? []).join('\n'),
      /the batched request was canceled \(canceled: the task could not wait longer\); asked the Messages API instead/,
    );
    const [batch] = fake.batches();
    assert.equal(batch.status, 'ended');
    assert.ok(
      batch.cancelAt !== undefined && batch.cancelAt - batch.createdAt < 110_000,
      `canceled ${batch.cancelAt! - batch.createdAt} ms after it was created`,
    );
    assert.deepEqual(
      fake.billing().billed.map((b) => b.batchId ?? 'messages'),
      ['messages'],
      'the canceled request was not billed; the fallback was',
    );
    assert.equal(t.costUsd, 0.0015);
  } finally {
    await fake.close();
  }
});

test('a batch answered and billed whose results cannot be read is booked at its reserved worst case; the task asks the Messages API', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_t, req) => answer(repoOf(req.body)),
    batches: { processAfterMs: 0, resultsGone: true },
  });
  try {
    const { root } = testConfig(server.env);
    makeRepos(root);
    const yaml = [
      'repos_file: repos.yaml',
      'tasks:',
      '  - id: gone',
      '    title: Update README',
      '    repo_names: [alpha]',
      '    simple_mode: true',
      '    model_api: batch',
      '    agent_config: { model: haiku }',
      '    on_completion: { create_pr: false }',
    ];
    const r = await runNight(root, fake.url, yaml);
    const t = r.tasks[0];
    assert.equal(t.status, 'succeeded', t.error);
    const [batch] = fake.batches();
    assert.equal(batch.status, 'ended');
    assert.equal(batch.resultReads, 0, 'the results were never served');
    assert.match(
      (t.notes ?? []).join('\n'),
      new RegExp(
        `Message Batches API: batch ${batch.id} could not be read: .*no longer available.*; asked the Messages API instead`,
      ),
    );
    const bill = fake.billing();
    assert.deepEqual(
      bill.billed.map((b) => b.batchId ?? 'messages'),
      [batch.id, 'messages'],
      'the batch was billed, then the fallback',
    );
    // The batched answer's cost is unknown to the task: it books the worst case it reserved, never less than was billed.
    assert.ok(t.costUsd! >= bill.costUsd, `booked $${t.costUsd} for $${bill.costUsd} billed`);
    assert.ok(
      t.costUsd! - 0.0015 > 0.00075,
      `the batch booked at its worst case ($${(t.costUsd! - 0.0015).toFixed(6)}), above its real $0.00075`,
    );
    assert.equal(readFileSync(path.join(t.workDir!, 'README.md'), 'utf8'), '# alpha\n\nregenerated\n');
  } finally {
    await fake.close();
  }
});

test('a night cancelled while its task waits for a batch cancels the batch: nothing of it is billed', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (_t, req) => answer(repoOf(req.body)),
    batches: { processAfterMs: 60 * 60_000 },
  });
  try {
    const { root } = testConfig(server.env);
    makeRepos(root);
    writeFileSync(
      path.join(root, 'tasks', 'night.yaml'),
      [
        'repos_file: repos.yaml',
        'tasks:',
        '  - id: waiting',
        '    title: Update README',
        '    repo_names: [alpha]',
        '    simple_mode: true',
        '    model_api: batch',
        '    agent_config: { model: haiku }',
        '    on_completion: { create_pr: false }',
      ].join('\n') + '\n',
    );
    const worker = await testWorker(server.env, withModel(testConfig(server.env, root), fake.url));
    const result = await worker.runUntil(async () => {
      const handle = await server.env.client.workflow.start('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: uniqueBatchId(),
        args: [{ tasksFile: 'tasks/night.yaml', date: '2026-11-21' }],
      });
      while (fake.batches().length === 0) await new Promise((res) => setTimeout(res, 100));
      await handle.executeUpdate(cancelBatchUpdate, { args: [{ reason: 'going home' }] });
      return (await handle.result()) as BatchResult;
    });
    const t = result.tasks[0];
    assert.equal(t.status, 'cancelled', t.error);
    const [batch] = fake.batches();
    assert.ok(batch.cancelAt !== undefined, 'the batch was cancelled');
    // The API ends a canceling batch on its own; the fake does so when it is next looked at.
    const client = createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: fake.url } }, { maxRetries: 0 })!;
    const ended = await client.messages.batches.retrieve(batch.id);
    assert.deepEqual(
      [ended.processing_status, ended.request_counts.canceled, ended.request_counts.succeeded],
      ['ended', 1, 0],
    );
    assert.equal(fake.billing().requests, 0, 'nothing billed: not the batch, and no fallback call');
    assert.equal(fake.batches().length, 1, 'and nothing submitted again');
  } finally {
    await fake.close();
  }
});

test('the submit activity submits at most once: a retry reuses the recorded batch, adopts one a lost attempt created, and reports one it cannot tell apart', async () => {
  const fake = await startFakeAnthropic({ byTurn: () => answer('alpha'), batches: { processAfterMs: 0 } });
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-batch-submit-'));
  try {
    const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
    const sandboxes = createLocalProvider({ root: path.join(root, 'sandboxes') });
    const sandbox = await sandboxes.create({ key: 'night/readme-1' });
    const anthropic = createAnthropicClient(
      { anthropic: { apiKey: 'sk-test', baseUrl: fake.url } },
      { maxRetries: 0 },
    )!;
    const acts = createSimpleActivities({ anthropic, sandboxes, transcripts });
    const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment().run(fn, a) as Promise<R>;
    const call = (workflowId: string) => ({
      workflowId,
      sandboxId: sandbox.id,
      model: 'claude-haiku-5-5',
      contextFiles: [],
    });
    for (const w of ['night/readme-1', 'night/readme-2', 'night/readme-3'])
      await putJson(transcripts, w, keys.prompt, { system: 'You are a test.', firstMessage: 'Go.' });

    const first = await run(acts.submitSimpleBatch, call('night/readme-1'));
    const again = await run(acts.submitSimpleBatch, call('night/readme-1'));
    assert.equal(again.batchId, first.batchId);
    assert.equal(fake.batches().length, 1);

    // A lost attempt: its intent is stored and the API created its batch, but its ID was never recorded.
    const lost = async (workflowId: string) => {
      await putJson(transcripts, workflowId, 'batch-simple.json', {
        intentAt: Date.now(),
        customIds: [customIdFor(`${workflowId}/simple`, 0)],
        suspects: [],
      });
      return anthropic.messages.batches.create({
        requests: [
          {
            custom_id: customIdFor(`${workflowId}/simple`, 0),
            params: { model: 'claude-haiku-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
          },
        ],
      });
    };
    // Ended (the fake processes at once): its results name our custom_id, so it is adopted.
    const created = await lost('night/readme-2');
    const adopted = await run(acts.submitSimpleBatch, call('night/readme-2'));
    assert.equal(adopted.batchId, created.id);
    assert.deepEqual(adopted.suspects, []);
    assert.equal(fake.batches().length, 2, 'nothing submitted a second time');

    // Still in progress: nothing tells it from another task's batch, so it is reported and a new one submitted.
    const slow = await startFakeAnthropic({ byTurn: () => answer('alpha'), batches: { processAfterMs: 60_000 } });
    try {
      const slowClient = createAnthropicClient(
        { anthropic: { apiKey: 'sk-test', baseUrl: slow.url } },
        { maxRetries: 0 },
      )!;
      const slowActs = createSimpleActivities({ anthropic: slowClient, sandboxes, transcripts });
      await putJson(transcripts, 'night/readme-3', 'batch-simple.json', {
        intentAt: Date.now(),
        customIds: [customIdFor('night/readme-3/simple', 0)],
        suspects: [],
      });
      const orphan = await slowClient.messages.batches.create({
        requests: [
          {
            custom_id: customIdFor('night/readme-3/simple', 0),
            params: { model: 'claude-haiku-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
          },
        ],
      });
      const fresh = await run(slowActs.submitSimpleBatch, call('night/readme-3'));
      assert.notEqual(fresh.batchId, orphan.id);
      assert.deepEqual(fresh.suspects, [orphan.id]);
      assert.equal((await run(slowActs.cancelSimpleBatch, { batchId: fresh.batchId })).status, 'canceling');
      assert.equal((await run(slowActs.simpleBatchState, { batchId: fresh.batchId })).status, 'ended');
      const outcome = await run(slowActs.collectSimpleBatch, {
        workflowId: 'night/readme-3',
        batchId: fresh.batchId,
        model: 'claude-haiku-5-5',
      });
      assert.deepEqual(outcome, { stored: false, reason: 'the batched request was canceled', costUsd: 0 });
    } finally {
      await slow.close();
    }

    // The fake is as strict as the API about what a batch may hold.
    await assert.rejects(anthropic.messages.batches.create({ requests: [] }), /at least one request/);
    await assert.rejects(
      anthropic.messages.batches.create({
        requests: [
          {
            custom_id: 'night/readme',
            params: { model: 'claude-haiku-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
          },
        ],
      }),
      /custom_id/,
    );
    await assert.rejects(anthropic.messages.batches.results('msgbatch_nope'), /not found/);
  } finally {
    await fake.close();
  }
});

test('the offline replay model has no Batches API: a submission is a plain 404, not a message taken for a batch', async () => {
  const replay = await startReplayModelServer(path.join(__dirname, '../../tasks/recordings/example.json'));
  try {
    const client = createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: replay.url } }, { maxRetries: 0 })!;
    await assert.rejects(
      client.messages.batches.create({
        requests: [
          {
            custom_id: 'ns-0',
            params: { model: 'claude-haiku-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
          },
        ],
      }),
      (err: Error & { status?: number }) => err.status === 404,
    );
  } finally {
    await replay.close();
  }
});
