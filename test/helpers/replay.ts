/** Replays workflow histories against today's workflow code and fails on any nondeterminism. */
import assert from 'node:assert/strict';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../worker';

/** `history` is the Temporal CLI's JSON export (`temporal workflow show -o json`). */
export async function assertHistoriesReplay(histories: { workflowId: string; history: unknown }[]): Promise<void> {
  const failures: string[] = [];
  let replayed = 0;
  const parsed = histories.map((h) => ({ workflowId: h.workflowId, history: historyFromJSON(h.history) }));
  for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, parsed)) {
    replayed++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  assert.equal(replayed, histories.length);
  assert.deepEqual(failures, []);
}
