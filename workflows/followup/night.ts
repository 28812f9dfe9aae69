/**
 * Follow-up first (NightlyBatchInput.followUp): before a night loads its spec, the feedback on
 * its repositories' nightshift PRs becomes tasks that run ahead of its own
 * (activities/followup/night.ts). A night whose follow-up cannot be read runs its own
 * tasks and says why in the report.
 *
 * Deterministic code only.
 */
import { isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { followUpRead } from '../activity-profiles';
import { domainError } from '../domain-error';
import type { NightlyBatchInput } from '../night/messages';

/** patched() ID of reading PR feedback before the night's spec is stored. */
export const FOLLOW_UP_FIRST_PATCH = 'follow-up-first';

const { followUpFirst: readFollowUps } = proxyActivities<Activities>(followUpRead());

/** The input the night loads its spec from: with follow-up tasks stored first, or as it was. */
export async function withFollowUpFirst(
  input: NightlyBatchInput,
  batchId: string,
  claimAs: string | undefined,
  notes: string[],
): Promise<NightlyBatchInput> {
  if (!input.followUp || input.carried) return input;
  if (claimAs !== undefined) {
    notes.push('follow-up first is not done for a night over a pending/ folder: run nightshift followup');
    return input;
  }
  if (!patched(FOLLOW_UP_FIRST_PATCH)) return input;
  try {
    const r = await readFollowUps({
      batchId,
      tasksFile: input.tasksFile,
      spec: input.spec,
      storedSpec: input.storedSpec,
      since: input.followUp.since,
    });
    notes.push(...r.notes);
    if (r.added.length)
      notes.push(
        `follow-up first: ${r.added.length} task${r.added.length === 1 ? '' : 's'} continue${r.added.length === 1 ? 's' : ''} reviewed PRs: ${r.added.join(', ')}`,
      );
    return r.storedSpec ? { ...input, storedSpec: r.storedSpec } : input;
  } catch (err) {
    if (isCancellation(err)) throw err;
    notes.push(
      `follow-up first could not read the pull requests (${domainError(err).message}); the night ran its own tasks`,
    );
    return input;
  }
}
