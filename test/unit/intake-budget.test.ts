/** The intake's daily budget: running tasks' caps are set aside, so together they cannot pass it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowanceFor, remainingBudget } from '../../workflows/budget/intake-share';

test('each task is capped by what is left once running tasks are set aside', () => {
  assert.equal(remainingBudget(50, 0, []), 50);
  assert.equal(remainingBudget(50, 12, [{ allowanceUsd: 10 }, { allowanceUsd: 20 }]), 8);
  assert.equal(remainingBudget(50, 45, [{ allowanceUsd: 10 }]), 0);
  assert.equal(allowanceFor(undefined, 8, 1), 8, 'the last free slot gets the rest');
  assert.equal(allowanceFor(undefined, 8, 4), 2, 'an even share across the free slots');
  assert.equal(allowanceFor(5, 8, 1), 5, 'its own cap when that is less');
  assert.equal(allowanceFor(10, 8, 1), 8, 'cut to what is left');
  assert.equal(allowanceFor(10, 0, 3), undefined, 'nothing left: no task starts');
  // Three tasks without caps, started one after another into three slots: all start, and
  // together they never reserve more than the budget.
  const inFlight: { allowanceUsd: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const a = allowanceFor(undefined, remainingBudget(50, 0, inFlight), 3 - inFlight.length);
    if (a !== undefined) inFlight.push({ allowanceUsd: a });
  }
  assert.equal(inFlight.length, 3);
  assert.ok(Math.abs(inFlight.reduce((s, t) => s + t.allowanceUsd, 0) - 50) < 1e-9);
});
