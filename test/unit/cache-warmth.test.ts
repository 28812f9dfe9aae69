/** When the agent loop sends a cache keep-alive, and when it lets the cache go (workflows/task/cache-warmth.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { priceOf } from '../../common/models';
import { cacheGoneAfterMs, keepAliveAfterMs, keepAliveWorthIt } from '../../workflows/task/cache-warmth';

test('keep-alives go out before the cache expires, and stop once they would cost more than the rewrite they avoid', () => {
  assert.equal(keepAliveAfterMs(), 4 * 60_000, 'a minute before the five minutes end');
  assert.ok(keepAliveAfterMs() < cacheGoneAfterMs() && cacheGoneAfterMs() < 5 * 60_000);
  assert.equal(keepAliveAfterMs(5_000), 4_000, 'scaled with a test clock');
  const haiku = priceOf('claude-haiku-4-5')!;
  // $0.10/M a read against $1.25/M a 5-minute write: 12 reads (1.2) stay under one rewrite, the 13th would not.
  const sent = (rates: { cacheRead: number; cacheWrite: number }) => {
    let n = 0;
    while (keepAliveWorthIt(n, rates)) n++;
    return n;
  };
  assert.equal(sent(haiku), 12);
  // At the 1-hour rate ($2/M) a rewrite is dearer, so more keep-alives pay.
  assert.equal(sent({ cacheRead: haiku.cacheRead, cacheWrite: haiku.cacheWrite1h }), 19);
  assert.equal(sent({ cacheRead: 1, cacheWrite: 1 }), 0, 'a read as dear as a write is never worth it');
});
