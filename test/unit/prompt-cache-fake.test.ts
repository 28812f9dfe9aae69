/**
 * The caching fake bills as the API does, or bench:cost's figures mean nothing: by prefix at
 * the request's breakpoints, a minimum cacheable length, five-minute and one-hour TTLs that a
 * read extends, and the API's 400s for breakpoints it refuses. Real SDK, virtual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAnthropicClient } from '../../activities/model/client';
import { createModelActivities } from '../../activities/model/call-model';
import { FileTranscriptStore, keys, putJson, type ToolRecord } from '../../activities/task/transcripts';
import { fakeTokens, message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';

test('the caching fake: minimum length, 5-minute and 1-hour TTLs by prefix, reads extend, refused breakpoints', async () => {
  let now = Date.parse('2026-11-21T22:00:00Z');
  const fake = await startFakeAnthropic({
    cache: { now: () => now, minCacheableTokens: 1024 },
    byTurn: () => message([text('ok')], { usage: { input_tokens: 0, output_tokens: 5 } }),
  });
  try {
    const client = createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: fake.url } }, { maxRetries: 0 })!;
    const ask = (system: string, ttl?: '5m' | '1h', more = '') =>
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        system: [
          {
            type: 'text',
            text: system,
            cache_control: ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' },
          },
        ],
        messages: [{ role: 'user', content: `go${more}` }],
      });
    const usage = (m: Anthropic.Message) => [
      m.usage.input_tokens,
      m.usage.cache_creation_input_tokens,
      m.usage.cache_read_input_tokens,
    ];

    // Under the minimum: nothing is written, and the next identical request reads nothing.
    const short = 'x'.repeat(2_000);
    assert.deepEqual(usage(await ask(short)), [(await ask(short)).usage.input_tokens, 0, 0]);

    const long = 'y'.repeat(40_000);
    const first = await ask(long);
    assert.equal(
      first.usage.cache_creation_input_tokens,
      fakeTokens(JSON.stringify({ type: 'text', text: long }).length),
    );
    assert.equal(first.usage.cache_creation?.ephemeral_5m_input_tokens, first.usage.cache_creation_input_tokens);
    const written = first.usage.cache_creation_input_tokens!;
    // Four minutes later: read, and the read starts five minutes afresh.
    now += 4 * 60_000;
    assert.deepEqual(usage(await ask(long, '5m', ' again')), [
      first.usage.input_tokens +
        fakeTokens(JSON.stringify({ role: 'user', type: 'text', text: 'go again' }).length) -
        fakeTokens(JSON.stringify({ role: 'user', type: 'text', text: 'go' }).length),
      0,
      written,
    ]);
    now += 4 * 60_000;
    assert.equal((await ask(long)).usage.cache_read_input_tokens, written, 'the read extended the entry');
    // Six minutes of silence: gone, written again.
    now += 6 * 60_000;
    assert.deepEqual([(await ask(long)).usage.cache_read_input_tokens, written], [0, written]);

    // A 1-hour entry outlives a long wait and is billed as a 1-hour write.
    const hour = 'z'.repeat(40_000);
    const h = await ask(hour, '1h');
    assert.equal(h.usage.cache_creation?.ephemeral_1h_input_tokens, h.usage.cache_creation_input_tokens);
    now += 40 * 60_000;
    assert.equal((await ask(hour, '1h')).usage.cache_read_input_tokens, h.usage.cache_creation_input_tokens);
    const bill = fake
      .billing()
      .billed.find((b) => b.usage.cacheWrite === h.usage.cache_creation_input_tokens && b.costUsd > 0)!;
    assert.ok(
      bill.costUsd > (h.usage.cache_creation_input_tokens! * 1.25) / 1e6,
      'billed above the 5-minute rate ($1.25/M for haiku 4.5)',
    );

    // The API's refusals: a 1-hour breakpoint after a 5-minute one, and more than four.
    await assert.rejects(
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        system: [{ type: 'text', text: 'a', cache_control: { type: 'ephemeral' } }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'b', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
        ],
      }),
      /1h/,
    );
    const five = Array.from({ length: 5 }, (_, i) => ({
      type: 'text' as const,
      text: `p${i}`,
      cache_control: { type: 'ephemeral' as const },
    }));
    await assert.rejects(
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        system: five,
        messages: [{ role: 'user', content: 'go' }],
      }),
      /maximum of 4/,
    );
  } finally {
    await fake.close();
  }
});

test("the caching fake takes each model's minimum from the data file and cuts an answer at max_tokens", async () => {
  const fake = await startFakeAnthropic({
    cache: { now: () => Date.parse('2026-11-21T22:00:00Z') },
    byTurn: () => message([text('a long answer')], { usage: { input_tokens: 0, output_tokens: 400 } }),
  });
  try {
    const client = createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: fake.url } }, { maxRetries: 0 })!;
    // About 3,000 tokens: over Sonnet 4.5's 1,024, under Haiku 4.5's 4,096 (common/models.json minCacheableTokens).
    const system = 'w'.repeat(12_000);
    const ask = (model: string, max_tokens: number) =>
      client.messages.create({
        model,
        max_tokens,
        system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'go' }],
      });
    const haiku = await ask('claude-haiku-4-5', 1000);
    assert.equal(haiku.usage.cache_creation_input_tokens, 0, 'haiku 4.5 caches nothing under 4,096 tokens');
    assert.equal(haiku.usage.output_tokens, 400);
    const sonnet = await ask('claude-sonnet-4-5', 1000);
    assert.ok(sonnet.usage.cache_creation_input_tokens! > 2_900, 'sonnet 4.5 caches from 1,024 tokens');
    const cut = await ask('claude-sonnet-4-5', 1);
    assert.deepEqual(
      [cut.stop_reason, cut.usage.output_tokens, cut.usage.cache_read_input_tokens],
      ['max_tokens', 1, sonnet.usage.cache_creation_input_tokens],
    );
    assert.equal(fake.billing().billed.at(-1)!.usage.output, 1, 'billed one output token');
  } finally {
    await fake.close();
  }
});

test("keepCacheWarm sends the turn's request again byte for byte: a full read, no write, one output token, billed once", async () => {
  let now = Date.parse('2026-11-21T22:00:00Z');
  const fake = await startFakeAnthropic({
    cache: { now: () => now },
    byTurn: (turn) =>
      message([toolUse(`tu_${turn}`, 'bash', { command: 'npm test' })], {
        usage: { input_tokens: 0, output_tokens: 300 },
        model: 'claude-sonnet-4-5',
      }),
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-keepwarm-'));
  try {
    const transcripts = new FileTranscriptStore({ dir });
    const anthropic = createAnthropicClient(
      { anthropic: { apiKey: 'sk-test', baseUrl: fake.url } },
      { maxRetries: 0 },
    )!;
    const acts = createModelActivities({ anthropic, transcripts, now: () => now });
    const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment().run(fn, a) as Promise<R>;
    const workflowId = 'test/keep-warm';
    await putJson(transcripts, workflowId, keys.prompt, {
      system: `Be careful.\n${'s'.repeat(20_000)}`,
      firstMessage: 'Run the tests.',
    });
    const model = 'claude-sonnet-4-5';
    for (let turn = 1; turn <= 2; turn++) {
      const t = await run(acts.callModel, { workflowId, turn, model, cacheTtl: '5m' });
      await putJson(transcripts, workflowId, keys.tool(turn, t.toolCalls[0].id), {
        toolUseId: t.toolCalls[0].id,
        name: 'bash',
        isError: false,
        content: 'r'.repeat(30_000),
        summary: 'ran',
      } satisfies ToolRecord);
    }
    const turn2 = fake.billing().billed[1].usage;
    // Four minutes into a long tool call of turn 2: the keep-alive reads what turn 2 wrote.
    now += 4 * 60_000;
    const kept = await run(acts.keepCacheWarm, { workflowId, turn: 2, seq: 1, model });
    assert.deepEqual(kept.usage, { input: 0, output: 1, cacheWrite: 0, cacheRead: turn2.cacheRead + turn2.cacheWrite });
    const keepAlive = fake.requests.at(-1)!.body;
    assert.equal(keepAlive.max_tokens, 1);
    assert.equal(
      JSON.stringify(keepAlive.messages),
      JSON.stringify(fake.requests[1].body.messages),
      'the same messages as turn 2 sent',
    );
    // A retry of the same keep-alive is answered from the store: the API is not asked again.
    const requests = fake.requests.length;
    assert.deepEqual(await run(acts.keepCacheWarm, { workflowId, turn: 2, seq: 1, model }), kept);
    assert.equal(fake.requests.length, requests);
    // Eight minutes after turn 2 (four after the keep-alive): turn 3 still reads the whole prefix.
    now += 4 * 60_000;
    await run(acts.callModel, { workflowId, turn: 3, model, cacheTtl: '5m' });
    const turn3 = fake.billing().billed.at(-1)!.usage;
    assert.equal(turn3.cacheRead, turn2.cacheRead + turn2.cacheWrite, 'kept warm: read, not rewritten');
    assert.ok(turn3.cacheWrite < 8_000, `only the new tail is written (${turn3.cacheWrite})`);
    assert.equal(kept.costUsd, fake.billing().billed[2].costUsd);
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
