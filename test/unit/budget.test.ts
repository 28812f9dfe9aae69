/**
 * Budget arithmetic (workflows/budget/arithmetic.ts): worst-case prices, grants and refusals,
 * idempotent keys, the daily ledger, and a randomized property test: whatever the
 * interleaving of 3 to 10 tasks in two batches under one daily cap reserving, spending,
 * pausing and crossing midnight, booked spend never passes the task, batch or daily cap
 * and reservations reconcile to zero. Per-attempt booking of model calls: what an
 * interrupted attempt is booked at, how a failed attempt is read, and a randomized property
 * test that whatever mix of answered, refused and cut-off attempts the API sees, what it
 * bills never passes the cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL_PRICES } from '../../common/models';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import type { AllowanceGrant, BatchBudgetLedger, DailyLedgerState } from '../../workflows/budget/messages';
import {
  attemptOutcome,
  committedUsd,
  interruptedCallCost,
  isCallProgress,
  MODEL_CALL_INTERRUPTED,
  MODEL_RETRY,
  modelRetryDelayMs,
  newDailyLedger,
  newLedger,
  nextInputTokens,
  pastWarning,
  raiseDaily,
  requestAllowance,
  requestDaily,
  revokeAllowance,
  settleDaily,
  settleTask,
  spentUsd,
  takeWarning,
  taskCapDecision,
  tokensFromChars,
  worstCaseCostUsd,
} from '../../workflows/budget/arithmetic';
import { ledgerDate } from '../../contract';

const sonnet = MODEL_PRICES['claude-sonnet-4-5'];

test('worst case: every input token at the dearest input rate, all of max_tokens as output, capped by the context window', () => {
  // 10,000 × $3.75 (cache write) + 8192 × $15 per million = 0.0375 + 0.12288
  assert.equal(worstCaseCostUsd(10_000, 8192, sonnet), 0.16038);
  assert.equal(worstCaseCostUsd(5_000_000, 0, sonnet), worstCaseCostUsd(200_000, 0, sonnet));
  assert.equal(tokensFromChars(7), 4);
  assert.equal(nextInputTokens(1000, 100, 400), 1000 + 100 + 200 + 200);
});

test('a grant fits the cap with everyone else counted; a refusal releases the slack; a repeated key is answered the same', () => {
  const l = newLedger(1);
  assert.deepEqual(requestAllowance(l, { taskId: 'a', key: 'a#1#0', spentUsd: 0, needUsd: 0.6 }), {
    granted: true,
    allowanceUsd: 0.6,
    capUsd: 1,
    committedUsd: 0.6,
  });
  const refused = requestAllowance(l, { taskId: 'b', key: 'b#1#0', spentUsd: 0, needUsd: 0.5 });
  assert.equal(refused.granted, false);
  assert.equal(requestAllowance(l, { taskId: 'b', key: 'b#1#1', spentUsd: 0, needUsd: 0.4 }).granted, true);
  assert.equal(committedUsd(l), 1);
  // a spent 0.2 of its 0.6 and asks for 0.3 more: spent 0.2 + need 0.3 = 0.5 held, fits.
  const again = requestAllowance(l, { taskId: 'a', key: 'a#2#0', spentUsd: 0.2, needUsd: 0.5 });
  assert.equal(again.granted, true);
  assert.deepEqual(
    requestAllowance(l, { taskId: 'a', key: 'a#2#0', spentUsd: 0.2, needUsd: 0.5 }),
    again,
    'retried request, same answer, nothing booked twice',
  );
  assert.equal(committedUsd(l), 0.9);
  // b asks for more than is left: refused, and its unused allowance goes back.
  const r = requestAllowance(l, { taskId: 'b', key: 'b#2#1', spentUsd: 0.1, needUsd: 0.7 });
  assert.deepEqual(r, { granted: false, allowanceUsd: 0.1, capUsd: 1, committedUsd: 0.6 });
  settleTask(l, 'a', 0.45);
  assert.equal(committedUsd(l), 0.55);
  assert.equal(spentUsd(l), 0.55);
});

test('the 75% warning fires once; task cap: go, wrap up, stop', () => {
  const l = newLedger(10);
  requestAllowance(l, { taskId: 'a', key: 'k1', spentUsd: 7.4, needUsd: 8 });
  assert.equal(takeWarning(l), false);
  requestAllowance(l, { taskId: 'a', key: 'k2', spentUsd: 7.5, needUsd: 8 });
  assert.equal(takeWarning(l), true);
  assert.equal(takeWarning(l), false);
  assert.equal(taskCapDecision(1, 1, undefined), 'go');
  assert.equal(taskCapDecision(1, 1, 3), 'go');
  assert.equal(taskCapDecision(1.5, 1, 3), 'wrap_up');
  assert.equal(taskCapDecision(2.5, 1, 3), 'stop');
  assert.equal(pastWarning(0.75, 1), true);
  assert.equal(pastWarning(0.7499, 1), false);
});

test('the day ledger: a grant must fit the day across batches; repeated keys; a task past midnight counts from its base; a raise returns the paused', () => {
  const d = newDailyLedger('2026-11-21');
  assert.equal(ledgerDate(Date.parse('2026-11-21T23:59:59.999Z')), '2026-11-21');
  assert.equal(ledgerDate(Date.parse('2026-11-22T00:00:00Z')), '2026-11-22');
  const a = requestDaily(d, { holder: 'b1/a', key: 'b1/a#1#0', spentUsd: 0, needUsd: 0.6, capUsd: 1 });
  assert.equal(a.granted, true);
  const b = requestDaily(d, { holder: 'b2/x', key: 'b2/x#1#0', spentUsd: 0, needUsd: 0.5, capUsd: 1 });
  assert.equal(b.granted, false, 'another batch, same day: refused');
  assert.deepEqual(d.paused, ['b2/x']);
  assert.deepEqual(
    requestDaily(d, { holder: 'b2/x', key: 'b2/x#1#0', spentUsd: 0, needUsd: 0.5, capUsd: 1 }),
    b,
    'same key, same answer',
  );
  // A task that ran before midnight: $2 was reserved on earlier days, so this day counts from there.
  const late = requestDaily(d, { holder: 'b1/old', key: 'b1/old#40#0', spentUsd: 2, needUsd: 2.3, capUsd: 1 });
  assert.equal(late.granted, true);
  assert.equal(committedUsd(d.ledger), 0.9);
  assert.deepEqual(raiseDaily(d, 1), ['b2/x']);
  assert.deepEqual(d.paused, []);
  assert.equal(
    requestDaily(d, { holder: 'b2/x', key: 'b2/x#1#1', spentUsd: 0, needUsd: 0.5, capUsd: 1 }).granted,
    true,
  );
  settleDaily(d, 'b1/old', 2.25);
  settleDaily(d, 'b1/a', 0.1);
  settleDaily(d, 'b2/x', 0.5);
  assert.equal(spentUsd(d.ledger), 0.85);
  assert.equal(committedUsd(d.ledger), 0.85);
});

/** A small deterministic PRNG, so a failing run can be repeated from its seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * What BatchLive does with a request (workflows/budget/batch-side.ts): the batch's grant, then the
 * day's; the day refusing takes the batch's grant back. Past midnight the old day books
 * what the task spent before the new day is asked.
 */
function reserve(
  batch: BatchBudgetLedger,
  days: Map<string, DailyLedgerState>,
  today: string,
  dailyCap: number,
  lastDay: Map<string, string>,
  holder: string,
  req: { taskId: string; key: string; spentUsd: number; needUsd: number },
): AllowanceGrant {
  const repeat = batch.lastGrant[req.taskId]?.key === req.key;
  const g = requestAllowance(batch, req);
  if (repeat || !g.granted) return g;
  const before = lastDay.get(holder);
  if (before !== undefined && before !== today) settleDaily(days.get(before)!, holder, req.spentUsd);
  if (!days.has(today)) days.set(today, newDailyLedger(today));
  const d = requestDaily(days.get(today)!, {
    holder,
    key: req.key,
    spentUsd: req.spentUsd,
    needUsd: req.needUsd,
    capUsd: dailyCap,
  });
  lastDay.set(holder, today);
  return d.granted ? g : revokeAllowance(batch, req.taskId, req.key, { ...g, refusedBy: 'day' })!;
}

test('property: 200 random days of two batches with 3-10 concurrent tasks never pass a task, batch or daily cap, and reservations reconcile to zero', () => {
  const nano = (x: number) => Math.round(x * 1e9);
  /** How often the cases that matter happened, so the property is known to cover them. */
  const seen = { dayRefusals: 0, batchRefusals: 0, pastMidnight: 0, resumedByDayRaise: 0 };
  for (let seed = 1; seed <= 200; seed++) {
    const rand = rng(seed);
    const n = 3 + Math.floor(rand() * 8);
    const batches = [newLedger(0.05 + rand() * 0.5), newLedger(0.05 + rand() * 0.5)];
    // Sometimes tighter than the two batch caps together, sometimes looser.
    const dailyCap = 0.05 + rand() * 0.6;
    const days = new Map<string, DailyLedgerState>();
    const dates = ['2026-11-21', '2026-11-22'];
    let today = dates[0];
    const lastDay = new Map<string, string>();
    type Sim = {
      id: string;
      batch: number;
      spent: number;
      allowance: number;
      allowanceDay?: string;
      cap?: number;
      refusals: number;
      turn: number;
      inFlight?: number;
      inFlightDay?: string;
      paused: boolean;
      done: boolean;
    };
    const tasks: Sim[] = Array.from({ length: n }, (_, i) => ({
      id: `t${i}`,
      batch: i % 2,
      spent: 0,
      allowance: 0,
      cap: rand() < 0.4 ? 0.02 + rand() * 0.2 : undefined,
      refusals: 0,
      turn: 1,
      paused: false,
      done: false,
    }));
    const holder = (t: Sim) => `batch-${t.batch}/${t.id}`;
    /** Real spend by the day whose reservation covered it. */
    const spentOn = new Map<string, number>(dates.map((d) => [d, 0]));
    const settle = (t: Sim) => {
      settleTask(batches[t.batch], t.id, t.spent);
      const d = lastDay.get(holder(t));
      if (d) settleDaily(days.get(d)!, holder(t), t.spent);
    };
    let raises = 0;
    for (let step = 0; step < 3000 && tasks.some((t) => !t.done); step++) {
      if (today === dates[0] && rand() < 0.002) today = dates[1]; // midnight UTC
      const t = tasks[Math.floor(rand() * n)];
      if (t.done) continue;
      if (t.inFlight !== undefined) {
        // The call returns: its real cost is at most the worst case it reserved.
        const cost = Math.round(t.inFlight * rand() * 1e9) / 1e9;
        t.spent += cost;
        spentOn.set(t.inFlightDay!, spentOn.get(t.inFlightDay!)! + cost);
        t.inFlight = undefined;
        t.turn++;
        if (rand() < 0.1) {
          t.done = true;
          settle(t);
        }
        continue;
      }
      if (t.paused) {
        const r = rand();
        if (r < 0.03 && raises < 5) {
          batches[t.batch].capUsd += 0.05;
          raises++;
          for (const p of tasks) if (p.batch === t.batch) p.paused = false;
        } else if (r < 0.06 && raises < 5 && days.has(today)) {
          const resumed = raiseDaily(days.get(today)!, 0.05);
          raises++;
          seen.resumedByDayRaise += resumed.length;
          for (const p of tasks) if (resumed.includes(holder(p))) p.paused = false;
        } else if (r < 0.08) {
          t.done = true; // the night ends for it: stopped by the budget
          settle(t);
        }
        continue;
      }
      const worst = worstCaseCostUsd(Math.floor(rand() * 20_000), 1 + Math.floor(rand() * 4096), sonnet);
      if (taskCapDecision(t.spent, worst, t.cap) === 'stop') {
        t.done = true;
        settle(t);
        continue;
      }
      if (nano(t.allowance) < nano(t.spent + worst)) {
        const req = {
          taskId: t.id,
          key: `${holder(t)}#${t.turn}#${t.refusals}`,
          spentUsd: t.spent,
          needUsd: t.spent + worst,
        };
        const g = reserve(batches[t.batch], days, today, dailyCap, lastDay, holder(t), req);
        // Half the time the activity is retried: the same key must not grant twice.
        if (rand() < 0.5)
          assert.deepEqual(reserve(batches[t.batch], days, today, dailyCap, lastDay, holder(t), req), g);
        t.allowance = g.allowanceUsd;
        if (today !== t.allowanceDay && t.allowanceDay !== undefined) seen.pastMidnight++;
        t.allowanceDay = today;
        if (!g.granted) {
          t.refusals++;
          t.paused = true;
          seen[g.refusedBy === 'day' ? 'dayRefusals' : 'batchRefusals']++;
          if (g.refusedBy === 'day')
            assert.ok(days.get(today)!.paused.includes(holder(t)), `seed ${seed}: the day knows it paused ${t.id}`);
          continue;
        }
      }
      t.inFlight = worst;
      t.inFlightDay = t.allowanceDay;

      for (const [b, ledger] of batches.entries()) {
        const spent = tasks.filter((x) => x.batch === b).reduce((a, x) => a + nano(x.spent) + nano(x.inFlight ?? 0), 0);
        assert.ok(
          spent <= nano(ledger.capUsd),
          `seed ${seed}: batch ${b} spend plus calls in flight ${spent / 1e9} > cap ${ledger.capUsd}`,
        );
        assert.ok(nano(committedUsd(ledger)) <= nano(ledger.capUsd), `seed ${seed}: batch ${b} committed past its cap`);
      }
      for (const date of dates) {
        const onDay =
          nano(spentOn.get(date)!) +
          tasks.reduce((a, x) => a + (x.inFlightDay === date ? nano(x.inFlight ?? 0) : 0), 0);
        const cap = dailyCap + (days.get(date)?.raisedUsd ?? 0);
        assert.ok(
          onDay <= nano(cap),
          `seed ${seed}: ${date} spend plus calls in flight ${onDay / 1e9} > daily cap ${cap}`,
        );
      }
      for (const x of tasks)
        if (x.cap !== undefined)
          assert.ok(nano(x.spent) + nano(x.inFlight ?? 0) <= nano(x.cap), `seed ${seed}: ${x.id} past its own cap`);
    }
    for (const t of tasks) {
      if (t.inFlight !== undefined) {
        t.spent += t.inFlight;
        spentOn.set(t.inFlightDay!, spentOn.get(t.inFlightDay!)! + t.inFlight);
      }
      t.inFlight = undefined;
      settle(t);
    }
    for (const [b, ledger] of batches.entries()) {
      const total = tasks.filter((x) => x.batch === b).reduce((a, x) => a + nano(x.spent), 0);
      assert.ok(total <= nano(ledger.capUsd), `seed ${seed}: batch ${b} total ${total / 1e9} > cap ${ledger.capUsd}`);
      assert.equal(
        nano(committedUsd(ledger)),
        nano(spentUsd(ledger)),
        `seed ${seed}: batch ${b} reservations did not reconcile to zero`,
      );
    }
    for (const [date, d] of days) {
      assert.equal(
        nano(committedUsd(d.ledger)),
        nano(spentUsd(d.ledger)),
        `seed ${seed}: ${date} reservations did not reconcile to zero`,
      );
      assert.ok(
        Math.abs(nano(spentUsd(d.ledger)) - nano(spentOn.get(date)!)) <= n,
        `seed ${seed}: ${date} booked ${spentUsd(d.ledger)}, spent ${spentOn.get(date)}`,
      );
      assert.ok(
        nano(spentOn.get(date)!) <= nano(dailyCap + d.raisedUsd),
        `seed ${seed}: ${date} spent past the daily cap`,
      );
    }
  }
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 0, `the random runs never had ${k}`);
});

const HAIKU = MODEL_PRICES['claude-haiku-4-5'];

test('an interrupted attempt is booked at its usage, its known input plus max_tokens, or its worst case', () => {
  const worst = worstCaseCostUsd(12_000, 8192, HAIKU);
  assert.deepEqual(interruptedCallCost(undefined, 8192, HAIKU, worst), { bookedUsd: worst, basis: 'worst_case' });
  assert.deepEqual(interruptedCallCost({}, 8192, HAIKU, worst), { bookedUsd: worst, basis: 'worst_case' });
  // Whole answer seen: 3000 in at $1/M + 500 out at $5/M.
  assert.deepEqual(
    interruptedCallCost(
      { usage: { input: 3000, output: 500, cacheWrite: 0, cacheRead: 0 }, complete: true },
      8192,
      HAIKU,
      worst,
    ),
    { bookedUsd: 0.0055, basis: 'usage' },
  );
  // message_start seen: exact input (3000 plain, 1000 cache write at $1.25, 2000 cache read at $0.10), output at max_tokens.
  const started = interruptedCallCost(
    { usage: { input: 3000, output: 1, cacheWrite: 1000, cacheRead: 2000 }, complete: false },
    8192,
    HAIKU,
    worst,
  );
  assert.equal(started.basis, 'input_known');
  assert.equal(started.bookedUsd, 0.04541);
  assert.ok(started.bookedUsd <= worst, 'what is known never costs more than the worst case when the estimate held');
  // More output seen than max_tokens cannot happen, but it is counted rather than capped.
  assert.equal(
    interruptedCallCost({ usage: { input: 0, output: 9000, cacheWrite: 0, cacheRead: 0 } }, 8192, HAIKU, worst)
      .bookedUsd,
    0.045,
  );
});

test('heartbeat details are trusted only when they look like call progress', () => {
  assert.ok(isCallProgress({ turn: 3, attempt: 1 }));
  assert.ok(isCallProgress({ usage: { input: 1, output: 2, cacheWrite: 0, cacheRead: 0 }, complete: false }));
  assert.ok(!isCallProgress(undefined));
  assert.ok(!isCallProgress('text'));
  assert.ok(!isCallProgress({ usage: { input: -1, output: 2, cacheWrite: 0, cacheRead: 0 } }));
  assert.ok(!isCallProgress({ usage: { input: 1, output: 2 } }));
});

test('a failed attempt is read as billed or not, retryable or not', () => {
  const activity = (cause: Error) =>
    new ActivityFailure('activity failed', 'callModel', '7', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'identity', cause);
  const usage = { input: 3000, output: 1, cacheWrite: 0, cacheRead: 0 };
  // An HTTP error status: nothing billed; retry-after honoured.
  assert.deepEqual(
    attemptOutcome(
      activity(
        ApplicationFailure.create({ type: 'ModelUnavailable', message: '429', details: [{ retryAfterMs: 1500 }] }),
      ),
    ),
    { mayBeBilled: false, retryable: true, retryAfterMs: 1500 },
  );
  assert.deepEqual(attemptOutcome(activity(ApplicationFailure.create({ type: 'ModelUnavailable', message: '529' }))), {
    mayBeBilled: false,
    retryable: true,
  });
  assert.deepEqual(
    attemptOutcome(activity(ApplicationFailure.create({ type: 'ModelRequestInvalid', message: '400' }))),
    { mayBeBilled: false, retryable: false },
  );
  // A stream cut after message_start: billed, its usage known.
  assert.deepEqual(
    attemptOutcome(
      activity(ApplicationFailure.create({ type: MODEL_CALL_INTERRUPTED, message: 'cut', details: [{ usage }] })),
    ),
    { mayBeBilled: true, retryable: true, progress: { usage } },
  );
  // The worker died: a heartbeat timeout, with or without details.
  assert.deepEqual(
    attemptOutcome(
      activity(new TimeoutFailure('hb', { turn: 2, attempt: 1, usage, complete: false }, TimeoutType.HEARTBEAT)),
    ),
    { mayBeBilled: true, retryable: true, progress: { turn: 2, attempt: 1, usage, complete: false } },
  );
  assert.deepEqual(attemptOutcome(activity(new TimeoutFailure('stc', undefined, TimeoutType.START_TO_CLOSE))), {
    mayBeBilled: true,
    retryable: true,
  });
  // Garbage in heartbeat details is not trusted: the worst case is booked instead.
  assert.deepEqual(
    attemptOutcome(activity(new TimeoutFailure('hb', { usage: { input: 'lots' } }, TimeoutType.HEARTBEAT))),
    { mayBeBilled: true, retryable: true },
  );
  assert.deepEqual(attemptOutcome(activity(new CancelledFailure('cancelled'))), {
    mayBeBilled: true,
    retryable: false,
  });
  // Anything else may have been billed: counted, retried.
  assert.deepEqual(attemptOutcome(activity(ApplicationFailure.create({ type: 'Error', message: 'disk full' }))), {
    mayBeBilled: true,
    retryable: true,
  });
  assert.deepEqual(
    attemptOutcome(activity(ApplicationFailure.create({ type: 'SomethingElse', message: 'x', nonRetryable: true }))),
    { mayBeBilled: true, retryable: false },
  );
});

test('the loop backs off exponentially, or as long as retry-after says (clamped)', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 7, 9].map((a) => modelRetryDelayMs(a)),
    [2000, 4000, 8000, 16000, 120_000, 120_000],
  );
  assert.equal(modelRetryDelayMs(1, 1500), 1500);
  assert.equal(modelRetryDelayMs(5, 0), 0);
  assert.equal(modelRetryDelayMs(1, 3_600_000), MODEL_RETRY.maxRetryAfterMs);
});

/**
 * One task under a batch cap, as the agent loop does it: each attempt reserves spent +
 * worst case, then the API answers (billed at the answer's usage), refuses with a status
 * (not billed), or the attempt is cut off after the API accepted it (billed in full, booked
 * at what the heartbeats showed: nothing, message_start, or the whole answer).
 */
test('property: whatever mix of answered, refused and cut-off attempts, the API never bills past the cap', () => {
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let run = 0; run < 300; run++) {
    const cap = 0.05 + rand() * 0.5;
    const l = newLedger(cap);
    const tasks = Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) => ({
      id: `t${i}`,
      spent: 0,
      key: 0,
      paused: false,
    }));
    let billed = 0;
    let booked = 0;
    for (let step = 0; step < 200 && tasks.some((t) => !t.paused); step++) {
      const t = tasks[Math.floor(rand() * tasks.length)];
      if (t.paused) continue;
      const maxTokens = 1000 + Math.floor(rand() * 8000);
      const inputTokens = 1000 + Math.floor(rand() * 20_000);
      const worst = worstCaseCostUsd(inputTokens, maxTokens, HAIKU);
      const grant = requestAllowance(l, {
        taskId: t.id,
        key: `${t.id}#${t.key++}`,
        spentUsd: t.spent,
        needUsd: t.spent + worst,
      });
      if (!grant.granted) {
        t.paused = true;
        continue;
      }
      const usage = {
        input: Math.floor(inputTokens * (0.5 + rand() / 2)),
        output: Math.floor(maxTokens * rand()),
        cacheWrite: 0,
        cacheRead: 0,
      };
      const full = costOfUsage(usage);
      const what = rand();
      if (what < 0.15) continue; // 429/529/500: not billed, nothing booked
      billed += full;
      let cost = full;
      if (what < 0.55) {
        const seen = rand();
        const progress =
          seen < 0.33 ? undefined : seen < 0.66 ? { usage: { ...usage, output: 1 } } : { usage, complete: true };
        cost = interruptedCallCost(progress, maxTokens, HAIKU, worst).bookedUsd;
        assert.ok(cost >= full - 1e-12, `run ${run}: an interrupted attempt booked ${cost} < billed ${full}`);
      }
      t.spent += cost;
      booked += cost;
    }
    for (const t of tasks) settleTask(l, t.id, t.spent);
    assert.ok(billed <= cap + 1e-9, `run ${run}: billed ${billed} past the cap ${cap}`);
    assert.ok(billed <= booked + 1e-9, `run ${run}: billed ${billed} > booked ${booked}`);
    assert.ok(Math.abs(spentUsd(l) - booked) < 1e-9);
  }
});

const costOfUsage = (u: { input: number; output: number; cacheWrite: number; cacheRead: number }) =>
  (u.input * HAIKU.input + u.output * HAIKU.output + u.cacheWrite * HAIKU.cacheWrite + u.cacheRead * HAIKU.cacheRead) /
  1e6;
