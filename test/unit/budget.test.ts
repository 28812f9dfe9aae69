/**
 * Budget arithmetic (workflows/budget.ts): worst-case prices, grants and refusals,
 * idempotent keys, the daily ledger, and a randomized property test: whatever the
 * interleaving of 3 to 10 tasks in two batches under one daily cap reserving, spending,
 * pausing and crossing midnight, booked spend never passes the task, batch or daily cap
 * and reservations reconcile to zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL_PRICES } from '../../common/models';
import type { AllowanceGrant, BatchBudgetLedger, DailyLedgerState } from '../../workflows/contract';
import {
  committedUsd,
  ledgerDate,
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
} from '../../workflows/budget';

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
  assert.deepEqual(requestAllowance(l, { taskId: 'a', key: 'a#1#0', spentUsd: 0, needUsd: 0.6 }), { granted: true, allowanceUsd: 0.6, capUsd: 1, committedUsd: 0.6 });
  const refused = requestAllowance(l, { taskId: 'b', key: 'b#1#0', spentUsd: 0, needUsd: 0.5 });
  assert.equal(refused.granted, false);
  assert.equal(requestAllowance(l, { taskId: 'b', key: 'b#1#1', spentUsd: 0, needUsd: 0.4 }).granted, true);
  assert.equal(committedUsd(l), 1);
  // a spent 0.2 of its 0.6 and asks for 0.3 more: spent 0.2 + need 0.3 = 0.5 held, fits.
  const again = requestAllowance(l, { taskId: 'a', key: 'a#2#0', spentUsd: 0.2, needUsd: 0.5 });
  assert.equal(again.granted, true);
  assert.deepEqual(requestAllowance(l, { taskId: 'a', key: 'a#2#0', spentUsd: 0.2, needUsd: 0.5 }), again, 'retried request, same answer, nothing booked twice');
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
  assert.deepEqual(requestDaily(d, { holder: 'b2/x', key: 'b2/x#1#0', spentUsd: 0, needUsd: 0.5, capUsd: 1 }), b, 'same key, same answer');
  // A task that ran before midnight: $2 was reserved on earlier days, so this day counts from there.
  const late = requestDaily(d, { holder: 'b1/old', key: 'b1/old#40#0', spentUsd: 2, needUsd: 2.3, capUsd: 1 });
  assert.equal(late.granted, true);
  assert.equal(committedUsd(d.ledger), 0.9);
  assert.deepEqual(raiseDaily(d, 1), ['b2/x']);
  assert.deepEqual(d.paused, []);
  assert.equal(requestDaily(d, { holder: 'b2/x', key: 'b2/x#1#1', spentUsd: 0, needUsd: 0.5, capUsd: 1 }).granted, true);
  settleDaily(d, 'b1/old', 2.25);
  settleDaily(d, 'b1/a', 0.1);
  settleDaily(d, 'b2/x', 0.5);
  assert.equal(spentUsd(d.ledger), 0.85);
  assert.equal(committedUsd(d.ledger), 0.85);
});

/** A small deterministic PRNG, so a failing run can be repeated from its seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * What BatchLive does with a request (workflows/batch-live.ts): the batch's grant, then the
 * day's; the day refusing takes the batch's grant back. Past midnight the old day books
 * what the task spent before the new day is asked.
 */
function reserve(batch: BatchBudgetLedger, days: Map<string, DailyLedgerState>, today: string, dailyCap: number, lastDay: Map<string, string>, holder: string, req: { taskId: string; key: string; spentUsd: number; needUsd: number }): AllowanceGrant {
  const repeat = batch.lastGrant[req.taskId]?.key === req.key;
  const g = requestAllowance(batch, req);
  if (repeat || !g.granted) return g;
  const before = lastDay.get(holder);
  if (before !== undefined && before !== today) settleDaily(days.get(before)!, holder, req.spentUsd);
  if (!days.has(today)) days.set(today, newDailyLedger(today));
  const d = requestDaily(days.get(today)!, { holder, key: req.key, spentUsd: req.spentUsd, needUsd: req.needUsd, capUsd: dailyCap });
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
    type Sim = { id: string; batch: number; spent: number; allowance: number; allowanceDay?: string; cap?: number; refusals: number; turn: number; inFlight?: number; inFlightDay?: string; paused: boolean; done: boolean };
    const tasks: Sim[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, batch: i % 2, spent: 0, allowance: 0, cap: rand() < 0.4 ? 0.02 + rand() * 0.2 : undefined, refusals: 0, turn: 1, paused: false, done: false }));
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
        const req = { taskId: t.id, key: `${holder(t)}#${t.turn}#${t.refusals}`, spentUsd: t.spent, needUsd: t.spent + worst };
        const g = reserve(batches[t.batch], days, today, dailyCap, lastDay, holder(t), req);
        // Half the time the activity is retried: the same key must not grant twice.
        if (rand() < 0.5) assert.deepEqual(reserve(batches[t.batch], days, today, dailyCap, lastDay, holder(t), req), g);
        t.allowance = g.allowanceUsd;
        if (today !== t.allowanceDay && t.allowanceDay !== undefined) seen.pastMidnight++;
        t.allowanceDay = today;
        if (!g.granted) {
          t.refusals++;
          t.paused = true;
          seen[g.refusedBy === 'day' ? 'dayRefusals' : 'batchRefusals']++;
          if (g.refusedBy === 'day') assert.ok(days.get(today)!.paused.includes(holder(t)), `seed ${seed}: the day knows it paused ${t.id}`);
          continue;
        }
      }
      t.inFlight = worst;
      t.inFlightDay = t.allowanceDay;

      for (const [b, ledger] of batches.entries()) {
        const spent = tasks.filter((x) => x.batch === b).reduce((a, x) => a + nano(x.spent) + nano(x.inFlight ?? 0), 0);
        assert.ok(spent <= nano(ledger.capUsd), `seed ${seed}: batch ${b} spend plus calls in flight ${spent / 1e9} > cap ${ledger.capUsd}`);
        assert.ok(nano(committedUsd(ledger)) <= nano(ledger.capUsd), `seed ${seed}: batch ${b} committed past its cap`);
      }
      for (const date of dates) {
        const onDay = nano(spentOn.get(date)!) + tasks.reduce((a, x) => a + (x.inFlightDay === date ? nano(x.inFlight ?? 0) : 0), 0);
        const cap = dailyCap + (days.get(date)?.raisedUsd ?? 0);
        assert.ok(onDay <= nano(cap), `seed ${seed}: ${date} spend plus calls in flight ${onDay / 1e9} > daily cap ${cap}`);
      }
      for (const x of tasks) if (x.cap !== undefined) assert.ok(nano(x.spent) + nano(x.inFlight ?? 0) <= nano(x.cap), `seed ${seed}: ${x.id} past its own cap`);
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
      assert.equal(nano(committedUsd(ledger)), nano(spentUsd(ledger)), `seed ${seed}: batch ${b} reservations did not reconcile to zero`);
    }
    for (const [date, d] of days) {
      assert.equal(nano(committedUsd(d.ledger)), nano(spentUsd(d.ledger)), `seed ${seed}: ${date} reservations did not reconcile to zero`);
      assert.ok(Math.abs(nano(spentUsd(d.ledger)) - nano(spentOn.get(date)!)) <= n, `seed ${seed}: ${date} booked ${spentUsd(d.ledger)}, spent ${spentOn.get(date)}`);
      assert.ok(nano(spentOn.get(date)!) <= nano(dailyCap + d.raisedUsd), `seed ${seed}: ${date} spent past the daily cap`);
    }
  }
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 0, `the random runs never had ${k}`);
});
