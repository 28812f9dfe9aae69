/**
 * The prompt cache across long waits, on a real dev server and a real sandbox, against the
 * caching fake with its clock running 60 times faster (five cache minutes are five seconds)
 * and the loop told the same (`loop.cacheLifetimeMs`): a tool call that outlives the cache is
 * covered by keep-alives, so the next turn reads instead of rewriting, and each keep-alive is
 * booked; a budget pause that outlives it makes the next call write for an hour, and the
 * reservation prices that 1-hour write (workflows/budget/task-side.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { priceOf } from '../../common/models';
import { worstCaseCostUsd } from '../../workflows/budget/arithmetic';
import type { TaskStatus } from '../../contract';
import { message, scaledClock, startFakeAnthropic, toolUse, type FakeAnthropic } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';
import { agentInput, agentSpec, startAgentTask, taskResultOf, withModel } from './helpers';

const server = devServerForFile();
const T = { timeout: 240_000 };
const HAIKU_4_5 = 'claude-haiku-4-5';
const LIFETIME_MS = 5_000;
/** Long enough that the prompt passes haiku 4.5's 4,096-token minimum and is cached at all. */
const LONG_DESCRIPTION = `Run the slow suite and report.\n${Array.from({ length: 400 }, (_, i) => `Context line ${i}: the suite covers module ${i * 31} of the service.`).join('\n')}`;

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const keepAlives = (fake: FakeAnthropic) => fake.requests.filter((r) => r.body.max_tokens === 1);
const turnRequests = (fake: FakeAnthropic) => fake.requests.filter((r) => r.body.max_tokens !== 1);
const ttls = (body: unknown) => [...JSON.stringify(body).matchAll(/"cache_control":\{[^}]*\}/g)].map((m) => m[0]);

test(
  'a tool call longer than the cache lives: keep-alives keep it, the next turn reads, every keep-alive is booked',
  T,
  async () => {
    const fake = await startFakeAnthropic({
      cache: { now: scaledClock(60) },
      byTurn: (turn) =>
        turn === 1
          ? message([toolUse('tu_slow', 'bash', { command: 'sleep 11 && echo suite passed' })], {
              usage: { input_tokens: 0, output_tokens: 60 },
              model: HAIKU_4_5,
            })
          : message([toolUse('tu_fin', 'finish', { summary: 'ran the suite', verification: 'suite passed' })], {
              usage: { input_tokens: 0, output_tokens: 60 },
              model: HAIKU_4_5,
            }),
    });
    try {
      const worker = await testWorker(server.env, withModel(testConfig(server.env), fake.url));
      const input = agentInput(agentSpec({ id: 'slow-suite', model: HAIKU_4_5, description: LONG_DESCRIPTION }), {
        cacheLifetimeMs: LIFETIME_MS,
      });
      const result = await worker.runUntil(taskResultOf(await startAgentTask(server.env, input)));
      assert.equal(result.status, 'succeeded', result.error);

      // Eleven cache minutes of tool call: a keep-alive about every four.
      const kept = keepAlives(fake);
      assert.ok(kept.length >= 2, `${kept.length} keep-alive(s)`);
      const [turn1, turn2] = turnRequests(fake);
      for (const k of kept)
        assert.equal(
          JSON.stringify(k.body.messages),
          JSON.stringify(turn1.body.messages),
          "a keep-alive is turn 1's request again",
        );

      const billed = fake.billing().billed;
      const bills = fake.requests.map((r, i) => ({ keepAlive: r.body.max_tokens === 1, ...billed[i] }));
      const first = bills[0].usage;
      assert.ok(first.cacheWrite > 4_096, `turn 1 wrote its prefix (${first.cacheWrite} tokens)`);
      for (const k of bills.filter((b) => b.keepAlive))
        assert.deepEqual(
          [k.usage.cacheRead, k.usage.cacheWrite, k.usage.output],
          [first.cacheWrite, 0, 1],
          'each keep-alive reads the whole prefix',
        );
      const second = bills.at(-1)!.usage;
      assert.equal(second.cacheRead, first.cacheWrite, 'turn 2 reads what turn 1 wrote');
      assert.ok(second.cacheWrite < first.cacheWrite / 4, `turn 2 writes only its new tail (${second.cacheWrite})`);
      assert.ok(!ttls(turn2.body).some((c) => c.includes('1h')), 'and writes it for five minutes, not an hour');

      // Booked like turns: the task's cost and tokens are what the API billed, keep-alives included.
      assert.ok(
        Math.abs(result.costUsd - fake.billing().costUsd) < 1e-9,
        `task booked $${result.costUsd}, the API billed $${fake.billing().costUsd}`,
      );
      assert.equal(
        result.tokens.cacheRead,
        billed.reduce((a, b) => a + b.usage.cacheRead, 0),
      );
      assert.equal(
        result.tokens.output,
        billed.reduce((a, b) => a + b.usage.output, 0),
      );
    } finally {
      await fake.close();
    }
  },
);

/** Fits turn 1's worst case (about $0.02), not turn 2's after its 28,000 characters of tool output. */
const CAP = 0.03;
/** The status prints dollars to four places. */
const money = (s: string | undefined) => Number(/may cost up to \$([0-9.]+)/.exec(s ?? '')?.[1]);

test(
  'a budget pause longer than the cache lives: the next call is reserved and written at the 1-hour rate',
  T,
  async () => {
    const fake = await startFakeAnthropic({
      cache: { now: scaledClock(60) },
      byTurn: (turn) =>
        turn === 1
          ? // About 7,000 tokens of output join the next request, so its worst case passes the cap.
            message([toolUse('tu_big', 'bash', { command: "head -c 28000 /dev/zero | tr '\\0' a" })], {
              usage: { input_tokens: 0, output_tokens: 60 },
              model: HAIKU_4_5,
            })
          : message([toolUse('tu_fin', 'finish', { summary: 'done', verification: 'ran it' })], {
              usage: { input_tokens: 0, output_tokens: 60 },
              model: HAIKU_4_5,
            }),
    });
    try {
      const worker = await testWorker(server.env, withModel(testConfig(server.env), fake.url));
      const input = agentInput(
        agentSpec({ id: 'paused-long', model: HAIKU_4_5, description: LONG_DESCRIPTION, maxCostUsd: CAP }),
        { cacheLifetimeMs: LIFETIME_MS, maxTokens: 100 },
      );
      const price = priceOf(HAIKU_4_5)!;
      const result = await worker.runUntil(async () => {
        const handle = await startAgentTask(server.env, input);
        const paused = await until<TaskStatus>(
          () => handle.query('status'),
          (s) => s.status === 'paused_budget',
        );
        assert.equal(turnRequests(fake).length, 1, `paused before turn 2: ${paused.activity}`);
        const worst5m = money(paused.activity);
        assert.ok(worst5m > 0, paused.activity);
        // The reserved worst case, taken apart: its prompt size at the 5-minute write rate, and 100 output tokens.
        const promptTokens = Math.round((worst5m * 1e6 - 100 * price.output) / price.cacheWrite);
        const worst1h = worstCaseCostUsd(promptTokens, 100, price, { cacheTtl1h: true });
        assert.ok(
          Math.abs(worstCaseCostUsd(promptTokens, 100, price) - worst5m) < 1e-4,
          'the first pause priced a 5-minute write',
        );
        // Past the cache's lifetime, a raise that covers the 5-minute worst case but not the 1-hour one.
        await new Promise((r) => setTimeout(r, LIFETIME_MS + 1_000));
        // What the task booked is what the API billed (the status's own figure may lag a step).
        const spent = fake.billing().costUsd;
        await handle.signal('budgetRaised', { taskCapAddUsd: spent + (worst5m + worst1h) / 2 - CAP });
        const again = await until<TaskStatus>(
          () => handle.query('status'),
          (s) => s.status === 'paused_budget' && money(s.activity) !== worst5m,
        );
        assert.ok(
          Math.abs(money(again.activity) - worst1h) < 2e-4 && money(again.activity) > worst5m * 1.4,
          `paused again at the 1-hour worst case: ${again.activity} (expected $${worst1h.toFixed(8)})`,
        );
        assert.equal(turnRequests(fake).length, 1, 'turn 2 was not called on the 5-minute reservation');
        await handle.signal('budgetRaised', { taskCapAddUsd: 1 });
        return taskResultOf(handle);
      });
      assert.equal(result.status, 'succeeded', result.error);
      assert.equal(keepAlives(fake).length, 0, 'a budget pause sends no keep-alive');
      const [, turn2] = turnRequests(fake);
      assert.ok(
        ttls(turn2.body).length > 0 && ttls(turn2.body).every((c) => c.includes('"ttl":"1h"')),
        `turn 2 writes for an hour: ${ttls(turn2.body).join(' ')}`,
      );
      const bill = fake.billing().billed.at(-1)!;
      assert.equal(bill.usage.cacheRead, 0, 'the cache was gone');
      assert.ok(Math.abs(result.costUsd - fake.billing().costUsd) < 1e-9);
      assert.ok(
        bill.costUsd > (bill.usage.cacheWrite * price.cacheWrite) / 1e6,
        'billed above the 5-minute write rate',
      );
    } finally {
      await fake.close();
    }
  },
);
