/** Secret values and token shapes are redacted from what leaves the night. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { redactionNote, Redactor, workerRedactor } from '../../common/redact';
import { writeReportFiles } from '../../activities/night/report';
import type { BatchStatus } from '../../contract';

const fakeKey = (prefix: string, n: number) =>
  prefix + 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1tU3'.slice(0, n);

test("the worker's secret values and common token shapes are redacted, ordinary text is not", () => {
  const token = fakeKey('ghs_', 36);
  const r = new Redactor({
    GITHUB_TOKEN: token,
    SHORT: 'abc',
    EMPTY: '',
    WEBHOOK: 'https://hooks.example/T0/B0/secretpath',
  });
  const shapes: Array<[string, string]> = [
    [fakeKey('ghp_', 36), 'GitHub token'],
    [fakeKey('gho_', 36), 'GitHub token'],
    [fakeKey('github_pat_', 40), 'GitHub token'],
    [fakeKey('sk-ant-api03-', 40), 'Anthropic key'],
    [fakeKey('xoxb-123456-', 24), 'Slack token'],
    [fakeKey('xoxp-', 30), 'Slack token'],
    ['AKIAIOSFODNN7EXAMPLE', 'AWS access key'],
    ['-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----', 'private key'],
    ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk', 'private key'],
    [fakeKey('AIza', 35), 'Google API key'],
    [fakeKey('sk_live_', 24), 'Stripe key'],
    ['https://hooks.slack.com/services/T000/B000/XXXXXXXX', 'Slack webhook'],
  ];
  for (const [secret, kind] of shapes) {
    const out = r.redact(`before ${secret} after`);
    assert.ok(!out.text.includes(secret), secret);
    assert.deepEqual(out.found, [kind], secret);
    assert.match(out.text, new RegExp(`^before \\[REDACTED: ${kind}\\]`));
  }
  const bearer = r.redact('curl -H "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789"');
  assert.equal(bearer.text, 'curl -H "Authorization: Bearer [REDACTED: bearer token]"');
  const value = r.redact(`the token is ${token}, the hook https://hooks.example/T0/B0/secretpath, and abc stays`);
  assert.equal(value.text, 'the token is [REDACTED: GITHUB_TOKEN], the hook [REDACTED: WEBHOOK], and abc stays');
  assert.deepEqual(value.found.sort(), ['GITHUB_TOKEN', 'WEBHOOK']);
  const plain =
    'Added src/greet.js; ran npm test (12 passed). See https://github.example/acme/widgets/pull/1 and sha 0123456789abcdef0123456789abcdef01234567.';
  assert.deepEqual(r.redact(plain), { text: plain, found: [] });
  const deep = r.redactDeep({ a: [token, { b: 'x' }], n: 3 });
  assert.deepEqual(deep, { value: { a: ['[REDACTED: GITHUB_TOKEN]', { b: 'x' }], n: 3 }, found: ['GITHUB_TOKEN'] });
});

test('workerRedactor takes the secrets of the config and of every secret-named variable', () => {
  const r = workerRedactor(
    {
      github: { token: 'cfg-token-12345' },
      notify: { telegramApiUrl: 'x', webhookUrl: 'https://hook.example/abcdef' },
    },
    { MY_SERVICE_PASSWORD: 'hunter2hunter2', PATH: '/usr/bin:/bin' },
  );
  assert.equal(
    r.redact('cfg-token-12345 https://hook.example/abcdef hunter2hunter2 /usr/bin:/bin').text,
    '[REDACTED: GITHUB_TOKEN] [REDACTED: NIGHTSHIFT_WEBHOOK_URL] [REDACTED: MY_SERVICE_PASSWORD] /usr/bin:/bin',
  );
  assert.equal(
    redactionNote(['GITHUB_TOKEN'], 'the PR body'),
    'redacted a secret-shaped value (GITHUB_TOKEN) from the PR body',
  );
});

test('the report redacts every task field and notes it, and notes a redacted patch', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-redact-'));
  mkdirSync(path.join(root, 'results', 'b'), { recursive: true });
  writeFileSync(path.join(root, 'results/b/t1.patch'), 'diff\n+token=[REDACTED: GITHUB_TOKEN]\n');
  const anthropic = fakeKey('sk-ant-api03-', 40);
  const status: BatchStatus = {
    batchId: 'b',
    date: '2026-11-21',
    state: 'completed',
    tasks: [
      {
        taskId: 't1',
        title: 'T',
        workflowId: 'w/t1',
        status: 'succeeded',
        costUsd: 0,
        tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
        turns: 1,
        summary: `found cfg-token-12345 and ${anthropic}`,
        patchFile: 'results/b/t1.patch',
        assumptions: [anthropic],
      },
      {
        taskId: 't2',
        title: 'U',
        workflowId: 'w/t2',
        status: 'succeeded',
        costUsd: 0,
        tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
        turns: 1,
        summary: 'clean',
      },
    ],
  } as BatchStatus;
  const files = await writeReportFiles(
    root,
    status,
    undefined,
    workerRedactor({ github: { token: 'cfg-token-12345' } }, {}),
  );
  const md = readFileSync(path.join(root, files.markdown), 'utf8');
  const json = readFileSync(path.join(root, files.json), 'utf8');
  for (const out of [md, json]) {
    assert.ok(!out.includes('cfg-token-12345') && !out.includes(anthropic), out);
    assert.ok(out.includes("redacted a secret-shaped value (GITHUB_TOKEN, Anthropic key) from this task's text"), out);
    assert.ok(out.includes('redacted a secret-shaped value from the patch file (results/b/t1.patch)'), out);
  }
  assert.equal(md.match(/redacted a secret-shaped value/g)?.length, 2, 'the clean task has no note');
});

test('a notification carries no secret: the message is redacted and says so', async () => {
  const { createNotifyActivities } = await import('../../activities/notify');
  const { FileTranscriptStore } = await import('../../activities/task/transcripts');
  const { startRecordingServer } = await import('../fakes/notify-servers');
  const hook = await startRecordingServer({ kind: 'webhook' });
  const slack = await startRecordingServer({ kind: 'slack' });
  try {
    const token = fakeKey('ghp_', 36);
    const acts = createNotifyActivities({
      env: {
        telegramApiUrl: 'http://127.0.0.1:9',
        webhookUrl: hook.url,
        slackWebhookUrl: slack.url,
        telegramBotToken: undefined,
      },
      store: new FileTranscriptStore({ dir: mkdtempSync(path.join(os.tmpdir(), 'nightshift-redact-notify-')) }),
    });
    const sent = await acts.notify({
      workflowId: 'w',
      key: 'k',
      event: 'question',
      batchId: 'b',
      taskId: 't',
      title: `question from t (${token})`,
      text: `Which token? I found ${token} and ${hook.url}`,
      data: { question: { question: `use ${token}?` } },
    });
    assert.deepEqual(sent.sent.sort(), ['slack', 'webhook']);
    for (const r of [...hook.requests, ...slack.requests]) {
      const body = JSON.stringify(r.body);
      assert.ok(!body.includes(token), body);
      assert.ok(!body.includes(hook.url), body);
      assert.match(
        body,
        /redacted a secret-shaped value \((GitHub token, NIGHTSHIFT_WEBHOOK_URL|NIGHTSHIFT_WEBHOOK_URL, GitHub token)\) from this message/,
      );
    }
    assert.match(JSON.stringify(hook.requests[0].body), /use \[REDACTED: GitHub token\]\?/);
  } finally {
    await hook.close();
    await slack.close();
  }
});
