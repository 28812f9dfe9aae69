/**
 * Money rounding (common/money.ts): the two precisions, integer nano-dollars that add
 * exactly, and a randomized check that each helper gives the very bits the inline
 * expressions it replaced gave, so workflow histories recorded before it replay unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromNanoUsd, roundUsd, roundUsdNano, toNanoUsd } from '../../common/money';

test('float noise is rounded away at both precisions', () => {
  assert.equal(roundUsd(0.1 + 0.2), 0.3);
  assert.equal(roundUsdNano(0.1 + 0.2), 0.3);
  assert.equal(roundUsd(0.0000014), 0.000001);
  assert.equal(roundUsdNano(0.0000014), 0.0000014);
});

test('nano-dollars are integers that compare exactly where dollars do not', () => {
  const a = 0.1 + 0.2;
  assert.notEqual(a, 0.3);
  assert.equal(toNanoUsd(a), toNanoUsd(0.3));
  assert.ok(Number.isInteger(toNanoUsd(1.23456789012)));
  assert.equal(toNanoUsd(1.23456789012), 1_234_567_890);
  assert.equal(fromNanoUsd(toNanoUsd(2.5)), 2.5);
});

test('each helper is bit-identical to the inline rounding it replaced', () => {
  let seed = 19;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    const usd = next() * 10 ** (Math.floor(next() * 8) - 5);
    assert.ok(Object.is(roundUsd(usd), Math.round(usd * 1e6) / 1e6), `roundUsd(${usd})`);
    assert.ok(Object.is(roundUsdNano(usd), Math.round(usd * 1e9) / 1e9), `roundUsdNano(${usd})`);
    assert.ok(Object.is(toNanoUsd(usd), Math.round(usd * 1e9)), `toNanoUsd(${usd})`);
    const nano = Math.round(usd * 1e9);
    assert.ok(Object.is(fromNanoUsd(nano), nano / 1e9), `fromNanoUsd(${nano})`);
  }
});
