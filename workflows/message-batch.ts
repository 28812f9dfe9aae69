/**
 * Waiting for a Message Batch with durable timers (never a long-blocking activity), shared by
 * simple mode and skill learning: poll its state, short at first (a batch of one may end in
 * seconds) then every five minutes, and cancel it once the caller can wait no longer, then
 * wait for the cancellation to end it.
 *
 * Deterministic code only.
 */
import { sleep } from '@temporalio/workflow';
import type { BatchState } from '../activities/model/batches';

const BATCH_POLL_FIRST_MS = 5_000;
const BATCH_POLL_MAX_MS = 5 * 60_000;

export interface BatchPolling {
  state(input: { batchId: string }): Promise<BatchState>;
  cancel(input: { batchId: string }): Promise<BatchState>;
}

/** Resolves once batch `batchId` has ended; `canceled` when it was cancelled for running past `waitUntil`. */
export async function waitForBatch(
  api: BatchPolling,
  batchId: string,
  waitUntil: number,
  say: (line: string) => void,
): Promise<{ canceled: boolean }> {
  let delay = BATCH_POLL_FIRST_MS;
  let canceled = false;
  for (;;) {
    say(`waiting for batch ${batchId}${canceled ? ' (canceling)' : ''}`);
    // Never sleep past the moment to give up, so the fallback call keeps the time set aside for it.
    await sleep(canceled ? delay : Math.max(1_000, Math.min(delay, waitUntil - Date.now())));
    delay = Math.min(delay * 2, BATCH_POLL_MAX_MS);
    const state = await api.state({ batchId });
    if (state.status === 'ended') return { canceled };
    if (!canceled && Date.now() >= waitUntil) {
      // Out of time to wait: what the batch already answered is still collected by the caller.
      await api.cancel({ batchId });
      canceled = true;
      delay = BATCH_POLL_FIRST_MS;
    }
  }
}
