/**
 * Replays workflow histories against today's workflow code and fails on any nondeterminism,
 * saying what to do about it for the workflow type's versioning behavior.
 */
import assert from 'node:assert/strict';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../worker';
import { VERSIONING_BEHAVIOR } from '../../workflows/versioning';

/**
 * What a change that breaks a recorded history of `type` means for a deploy, and the fix:
 * pin (declare a behavior), patch (`patched()`), or version (a new build ID).
 */
export function replayAdvice(type: string): string {
  const behavior = (VERSIONING_BEHAVIOR as Record<string, string | undefined>)[type];
  if (!behavior)
    return `pin: ${type} has no versioning behavior; declare one in workflows/versioning.ts (PINNED unless it never ends)`;
  if (behavior === 'AUTO_UPGRADE') {
    return (
      `patch: ${type} is AUTO_UPGRADE, so a deploy replays its running workflows on the new code at their next step and this change would fail them. ` +
      `Guard the new behavior with patched('<descriptive-id>') and keep the old branch while any run started before it can be open.`
    );
  }
  return (
    `patch or version: ${type} is PINNED, so its running workflows finish on the worker version they started on, but only if this code ships under a new build ID ` +
    `(the default changes with every commit; never reuse a NIGHTSHIFT_BUILD_ID across a workflow change), and a worker of the old version keeps polling until ` +
    `\`nightshift deploy status\` says drained. Recorded histories must keep replaying, so guard the change with patched('<descriptive-id>'); ` +
    `never re-record this fixture, add a new one beside it.`
  );
}

/** `history` is the Temporal CLI's JSON export (`temporal workflow show -o json`). */
export async function assertHistoriesReplay(
  histories: { workflowId: string; history: unknown }[],
  bundle?: Awaited<ReturnType<typeof workflowBundle>>,
): Promise<void> {
  const failures: string[] = [];
  let replayed = 0;
  const parsed = histories.map((h) => ({ workflowId: h.workflowId, history: historyFromJSON(h.history) }));
  const typeOf = new Map(
    parsed.map((h) => [
      h.workflowId,
      h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '?',
    ]),
  );
  for await (const r of Worker.runReplayHistories({ workflowBundle: bundle ?? (await workflowBundle()) }, parsed)) {
    replayed++;
    if (r.error)
      failures.push(`${r.workflowId}: ${r.error.message}\n  ${replayAdvice(typeOf.get(r.workflowId) ?? '?')}`);
  }
  assert.equal(replayed, histories.length);
  assert.deepEqual(failures, [], `histories recorded by earlier versions no longer replay:\n${failures.join('\n')}`);
}
