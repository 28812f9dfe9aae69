/**
 * Profiles that replaced options written inline at their proxies, pinned to what those
 * proxies scheduled: running nights' activities were scheduled with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { msToNumber } from '@temporalio/common/lib/time';
import type { ActivityOptions } from '@temporalio/workflow';
import { DELIVERY_NON_RETRYABLE_ERRORS, NON_RETRYABLE_ERRORS } from '../../common/errors';
import {
  checksRun,
  followUpRead,
  gitStep,
  HEARTBEAT_TIMEOUT_MS,
  resultStore,
  storedReport,
} from '../../workflows/activity-profiles';
import { MODEL_RETRY } from '../../workflows/budget/arithmetic';

/** Durations in milliseconds, so '2 seconds' and 2000 compare equal as they do on the wire. */
function normalized(o: ActivityOptions) {
  const ms = (d: ActivityOptions['startToCloseTimeout']) => (d === undefined ? undefined : msToNumber(d));
  const r = o.retry ?? {};
  return {
    startToCloseTimeout: ms(o.startToCloseTimeout),
    heartbeatTimeout: ms(o.heartbeatTimeout),
    retry: { ...r, initialInterval: ms(r.initialInterval), maximumInterval: ms(r.maximumInterval) },
  };
}

test('the follow-up read, result store and stored report profiles are the options their proxies had inline', () => {
  assert.deepEqual(
    normalized(followUpRead()),
    normalized({
      startToCloseTimeout: '20 minutes',
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      retry: { initialInterval: '2 seconds', maximumAttempts: 3 },
    }),
  );
  assert.deepEqual(
    normalized(resultStore()),
    normalized({
      startToCloseTimeout: '5 minutes',
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
    }),
  );
  assert.deepEqual(
    normalized(storedReport()),
    normalized({
      startToCloseTimeout: '10 minutes',
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      retry: { initialInterval: '1 second', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
    }),
  );
});

test("delivery's git and checks profiles do not retry delivery's refusals", () => {
  assert.deepEqual(gitStep(7000).retry?.nonRetryableErrorTypes, DELIVERY_NON_RETRYABLE_ERRORS);
  assert.deepEqual(checksRun().retry?.nonRetryableErrorTypes, DELIVERY_NON_RETRYABLE_ERRORS);
  assert.equal(gitStep(7000).heartbeatTimeout, 7000);
});

test('the model-call backoff both retry owners use is the one running nights had', () => {
  assert.deepEqual(MODEL_RETRY, {
    maxAttempts: 10,
    initialMs: 2000,
    coefficient: 2,
    maxIntervalMs: 120_000,
    maxRetryAfterMs: 600_000,
  });
});
