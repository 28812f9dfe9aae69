/**
 * Budget arithmetic (workflows/budget.ts): worst-case prices, grants and refusals,
 * idempotent keys, and a randomized property test: whatever the interleaving of 3 to 10
 * tasks reserving, spending and pausing, booked spend never passes the task or batch cap
 * and reservations reconcile to zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL_PRICES } from '../../common/models';
import {
  committedUsd,
  newLedger,
  nextInputTokens,
  pastWarning,
  requestAllowance,
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

/** A small deterministic PRNG, so a failing run can be repeated from its seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test('property: 200 random nights of 3-10 concurrent tasks never pass a cap, and reservations reconcile to zero', () => {
  const nano = (x: number) => Math.round(x * 1e9);
  for (let seed = 1; seed <= 200; seed++) {
    const rand = rng(seed);
    const n = 3 + Math.floor(rand() * 8);
    const ledger = newLedger(0.05 + rand() * 0.5);
    type Sim = { id: string; spent: number; allowance: number; cap?: number; refusals: number; turn: number; inFlight?: number; paused: boolean; done: boolean };
    const tasks: Sim[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, spent: 0, allowance: 0, cap: rand() < 0.4 ? 0.02 + rand() * 0.2 : undefined, refusals: 0, turn: 1, paused: false, done: false }));
    let raises = 0;
    for (let step = 0; step < 2000 && tasks.some((t) => !t.done); step++) {
      const t = tasks[Math.floor(rand() * n)];
      if (t.done) continue;
      if (t.inFlight !== undefined) {
        // The call returns: its real cost is at most the worst case it reserved.
        t.spent += Math.round(t.inFlight * rand() * 1e9) / 1e9;
        t.inFlight = undefined;
        t.turn++;
        if (rand() < 0.1) {
          t.done = true;
          settleTask(ledger, t.id, t.spent);
        }
        continue;
      }
      if (t.paused) {
        if (rand() < 0.05 && raises < 5) {
          ledger.capUsd += 0.05;
          raises++;
          for (const p of tasks) p.paused = false;
        } else if (rand() < 0.02) {
          t.done = true; // the night ends for it: stopped by the budget
          settleTask(ledger, t.id, t.spent);
        }
        continue;
      }
      const worst = worstCaseCostUsd(Math.floor(rand() * 20_000), 1 + Math.floor(rand() * 4096), sonnet);
      if (taskCapDecision(t.spent, worst, t.cap) === 'stop') {
        t.done = true;
        settleTask(ledger, t.id, t.spent);
        continue;
      }
      if (nano(t.allowance) < nano(t.spent + worst)) {
        const g = requestAllowance(ledger, { taskId: t.id, key: `${t.id}#${t.turn}#${t.refusals}`, spentUsd: t.spent, needUsd: t.spent + worst });
        // Half the time the activity is retried: the same key must not grant twice.
        if (rand() < 0.5) assert.deepEqual(requestAllowance(ledger, { taskId: t.id, key: `${t.id}#${t.turn}#${t.refusals}`, spentUsd: t.spent, needUsd: t.spent + worst }), g);
        t.allowance = g.allowanceUsd;
        if (!g.granted) {
          t.refusals++;
          t.paused = true;
          continue;
        }
      }
      t.inFlight = worst;

      const spent = tasks.reduce((a, x) => a + nano(x.spent) + nano(x.inFlight ?? 0), 0);
      assert.ok(spent <= nano(ledger.capUsd), `seed ${seed}: spend plus calls in flight ${spent / 1e9} > cap ${ledger.capUsd}`);
      assert.ok(nano(committedUsd(ledger)) <= nano(ledger.capUsd), `seed ${seed}: committed past the cap`);
      for (const x of tasks) if (x.cap !== undefined) assert.ok(nano(x.spent) + nano(x.inFlight ?? 0) <= nano(x.cap), `seed ${seed}: ${x.id} past its own cap`);
    }
    for (const t of tasks) {
      if (t.inFlight !== undefined) t.spent += t.inFlight;
      t.inFlight = undefined;
      settleTask(ledger, t.id, t.spent);
    }
    const total = tasks.reduce((a, x) => a + nano(x.spent), 0);
    assert.ok(total <= nano(ledger.capUsd), `seed ${seed}: total ${total / 1e9} > cap ${ledger.capUsd}`);
    assert.equal(nano(committedUsd(ledger)), nano(spentUsd(ledger)), `seed ${seed}: reservations did not reconcile to zero`);
  }
});
