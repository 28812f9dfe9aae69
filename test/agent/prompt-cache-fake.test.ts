/**
 * The caching fake bills as the API does, or bench:cost's figures mean nothing: by prefix at
 * the request's breakpoints, a minimum cacheable length, five-minute and one-hour TTLs that a
 * read extends, and the API's 400s for breakpoints it refuses. Real SDK, virtual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Anthropic from '@anthropic-ai/sdk';
import { createAnthropicClient } from '../../activities/model/client';
import { fakeTokens, message, startFakeAnthropic, text } from '../fakes/anthropic-server';

test('the caching fake: minimum length, 5-minute and 1-hour TTLs by prefix, reads extend, refused breakpoints', async () => {
  let now = Date.parse('2026-11-21T22:00:00Z');
  const fake = await startFakeAnthropic({ cache: { now: () => now, minCacheableTokens: 1024 }, byTurn: () => message([text('ok')], { usage: { input_tokens: 0, output_tokens: 5 } }) });
  try {
    const client = createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: fake.url } }, { maxRetries: 0 })!;
    const ask = (system: string, ttl?: '5m' | '1h', more = '') =>
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        system: [{ type: 'text', text: system, cache_control: ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: `go${more}` }],
      });
    const usage = (m: Anthropic.Message) => [m.usage.input_tokens, m.usage.cache_creation_input_tokens, m.usage.cache_read_input_tokens];

    // Under the minimum: nothing is written, and the next identical request reads nothing.
    const short = 'x'.repeat(2_000);
    assert.deepEqual(usage(await ask(short)), [(await ask(short)).usage.input_tokens, 0, 0]);

    const long = 'y'.repeat(40_000);
    const first = await ask(long);
    assert.equal(first.usage.cache_creation_input_tokens, fakeTokens(JSON.stringify({ type: 'text', text: long }).length));
    assert.equal(first.usage.cache_creation?.ephemeral_5m_input_tokens, first.usage.cache_creation_input_tokens);
    const written = first.usage.cache_creation_input_tokens!;
    // Four minutes later: read, and the read starts five minutes afresh.
    now += 4 * 60_000;
    assert.deepEqual(usage(await ask(long, '5m', ' again')), [first.usage.input_tokens + fakeTokens(JSON.stringify({ role: 'user', type: 'text', text: 'go again' }).length) - fakeTokens(JSON.stringify({ role: 'user', type: 'text', text: 'go' }).length), 0, written]);
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
    const bill = fake.billing().billed.find((b) => b.usage.cacheWrite === h.usage.cache_creation_input_tokens && b.costUsd > 0)!;
    assert.ok(bill.costUsd > (h.usage.cache_creation_input_tokens! * 1.25) / 1e6, 'billed above the 5-minute rate ($1.25/M for haiku 4.5)');

    // The API's refusals: a 1-hour breakpoint after a 5-minute one, and more than four.
    await assert.rejects(
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        system: [{ type: 'text', text: 'a', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'b', cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
      }),
      /1h/,
    );
    const five = Array.from({ length: 5 }, (_, i) => ({ type: 'text' as const, text: `p${i}`, cache_control: { type: 'ephemeral' as const } }));
    await assert.rejects(client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, system: five, messages: [{ role: 'user', content: 'go' }] }), /maximum of 4/);
  } finally {
    await fake.close();
  }
});
