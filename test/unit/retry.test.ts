/**
 * The one retry helper (common/retry.ts) and the notification channels on it, against the
 * loopback Telegram, Slack and webhook fakes answering 429 as those services do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createNotifyActivities } from '../../activities/notify';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import type { NotifyEnv } from '../../common/config';
import { HttpStatusError, parseRetryAfter, RetriesExhausted, withRetries } from '../../common/retry';
import { startRecordingServer, type RateLimit } from '../fakes/notify-servers';

const store = () => new FileTranscriptStore({ dir: mkdtempSync(path.join(os.tmpdir(), 'nightshift-retry-')) });
const noChannels: NotifyEnv = { telegramApiUrl: 'http://127.0.0.1:9', telegramBotToken: undefined };
const message = {
  workflowId: 'w',
  key: 'k',
  event: 'question' as const,
  batchId: 'b',
  taskId: 't',
  title: 'question from t',
  text: 'Which way?',
};

for (const [kind, limit] of [
  ['webhook', { times: 1, retryAfterSeconds: 1 }],
  ['slack', { times: 1, retryAfterSeconds: 1 }],
  // Telegram's flood control: the wait is in the body, whether or not a header says it too.
  ['telegram', { times: 1, retryAfterSeconds: 1, header: false }],
] as const satisfies readonly (readonly ['webhook' | 'slack' | 'telegram', RateLimit])[]) {
  test(`${kind}: a 429 with a wait to honour, then success, delivers the message once after that wait`, async () => {
    const server = await startRecordingServer({ kind, rateLimit: limit });
    try {
      const env: NotifyEnv =
        kind === 'webhook'
          ? { ...noChannels, webhookUrl: server.url }
          : kind === 'slack'
            ? { ...noChannels, slackWebhookUrl: server.url }
            : { ...noChannels, telegramApiUrl: server.url, telegramBotToken: '123:abc', telegramChatId: '42' };
      // The backoff alone (10 ms) is far shorter than the wait the server asks for.
      const acts = createNotifyActivities({ env, store: store(), backoffMs: 10 });
      const result = await acts.notify(message);
      assert.deepEqual(result.failed, []);
      assert.deepEqual(result.sent, [kind]);
      assert.equal(server.requests.length, 2, 'one refused, one delivered');
      const [refused, delivered] = server.requests;
      assert.ok(
        delivered.receivedAt - refused.receivedAt >= limit.retryAfterSeconds * 1000,
        `waited ${delivered.receivedAt - refused.receivedAt} ms`,
      );
      if (kind === 'telegram') assert.equal(result.telegramMessageId, 100);
    } finally {
      await server.close();
    }
  });
}

test('a wait longer than the time allowed gives up at once and says why; the failure is reported, not thrown', async () => {
  const server = await startRecordingServer({ kind: 'webhook', rateLimit: { times: 5, retryAfterSeconds: 3600 } });
  try {
    const acts = createNotifyActivities({
      env: { ...noChannels, webhookUrl: server.url },
      store: store(),
      backoffMs: 10,
    });
    const result = await acts.notify(message);
    assert.deepEqual(result.sent, []);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(result.failed, [
      {
        channel: 'webhook',
        error: '1 attempt (the server asked to wait 3600s, past the time allowed): HTTP 429: {"error":"rate_limited"}',
      },
    ]);
  } finally {
    await server.close();
  }
});

test('a refusal that will not change (400) is tried once; a server error is tried the given number of times', async () => {
  const refusing = await startRecordingServer({ kind: 'webhook', failWith: 400 });
  const failing = await startRecordingServer({ kind: 'slack', failWith: 503 });
  try {
    const acts = createNotifyActivities({
      env: { ...noChannels, webhookUrl: refusing.url, slackWebhookUrl: failing.url },
      store: store(),
      backoffMs: 10,
      attempts: 3,
    });
    const result = await acts.notify(message);
    assert.equal(refusing.requests.length, 1);
    assert.equal(failing.requests.length, 3);
    assert.deepEqual(result.failed.map((f) => f.channel).sort(), ['slack', 'webhook']);
    assert.match(result.failed.find((f) => f.channel === 'webhook')!.error, /^1 attempt: HTTP 400/);
    assert.match(result.failed.find((f) => f.channel === 'slack')!.error, /^3 attempts: HTTP 503/);
  } finally {
    await refusing.close();
    await failing.close();
  }
});

test('withRetries: the backoff doubles from the first delay, and the last error is the cause', async () => {
  const waits: number[] = [];
  const err = await withRetries(
    async () => {
      throw new Error('down');
    },
    { attempts: 4, firstDelayMs: 5, giveUpAfterMs: 10_000, onRetry: (_e, ms) => waits.push(ms) },
  ).catch((e: unknown) => e);
  assert.ok(err instanceof RetriesExhausted);
  assert.equal(err.attempts, 4);
  assert.equal((err.cause as Error).message, 'down');
  assert.equal(err.message, '4 attempts: down');
  assert.deepEqual(waits, [5, 10, 20]);
});

test('withRetries: a Retry-After longer than the backoff is the wait', async () => {
  const waits: number[] = [];
  let n = 0;
  const value = await withRetries(
    async () => {
      if (n++ === 0) throw new HttpStatusError(429, 'slow down', 50);
      return 'ok';
    },
    { firstDelayMs: 1, giveUpAfterMs: 10_000, onRetry: (_e, ms) => waits.push(ms) },
  );
  assert.equal(value, 'ok');
  assert.deepEqual(waits, [50]);
});

test('parseRetryAfter reads seconds and an HTTP date, and ignores anything else', () => {
  const now = Date.parse('2026-11-29T22:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter('Sun, 29 Nov 2026 22:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Sun, 29 Nov 2026 21:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

test('the Telegram listener waits out flood control on getUpdates and keeps listening; --once reports the first failure', async () => {
  const { listenTelegram } = await import('../../client/commands/telegram');
  const { Client, Connection } = await import('@temporalio/client');
  // No update arrives, so no answer is signalled: the client is never dialled.
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:9' }) });
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-retry-tg-'));
  const limited = await startRecordingServer({
    kind: 'telegram',
    rateLimit: { times: 1, retryAfterSeconds: 1, header: false },
  });
  const refusing = await startRecordingServer({ kind: 'telegram', failWith: 401 });
  try {
    const problems: string[] = [];
    const stop = new AbortController();
    const polled = limited
      .waitFor((r) => r.path.endsWith('/getUpdates') && limited.requests.length >= 2)
      .then(() => stop.abort());
    await listenTelegram({
      client,
      env: { telegramApiUrl: limited.url, telegramBotToken: '123:abc' },
      root,
      pollSeconds: 0,
      signal: stop.signal,
      onProblem: (l) => problems.push(l),
    });
    await polled;
    assert.deepEqual(problems, ['Telegram getUpdates: Too Many Requests: retry after 1; retrying in 1s']);
    const [refused, next] = limited.requests;
    assert.ok(next.receivedAt - refused.receivedAt >= 1000, `waited ${next.receivedAt - refused.receivedAt} ms`);

    await assert.rejects(
      listenTelegram({ client, env: { telegramApiUrl: refusing.url, telegramBotToken: '123:abc' }, root, once: true }),
      (err: Error) => err.message === 'Telegram getUpdates: failing on purpose',
    );
    assert.equal(refusing.requests.length, 1);
  } finally {
    await limited.close();
    await refusing.close();
    await client.connection.close().catch(() => undefined);
  }
});
