/**
 * The night's date for a batch that a Temporal Schedule started. A schedule action cannot
 * compute a workflow ID or input per run, so the batch reads the time it was scheduled for
 * from the `TemporalScheduledStartTime` search attribute the server sets on every scheduled
 * (or triggered) run, and turns it into a date in the schedule's time zone.
 *
 * Deterministic code only: the attribute is part of the run's start event, and Intl's
 * time-zone arithmetic is pure.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';

/** Set by the server on runs a schedule started (server-defined, not ours). */
export const SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);
export const SCHEDULED_BY_ID = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

export interface ScheduledRun {
  scheduleId: string;
  /** The time the schedule fired for (before jitter). */
  scheduledAt: Date;
}

/** The schedule that started this run, if a schedule did. */
export function scheduledRun(): ScheduledRun | undefined {
  const attrs = workflowInfo().typedSearchAttributes;
  const at = attrs.get(SCHEDULED_START_TIME);
  const by = attrs.get(SCHEDULED_BY_ID);
  return at && by ? { scheduleId: by, scheduledAt: new Date(at) } : undefined;
}

/** `2026-11-21` for `at` as seen in `timeZone` (an IANA name; default UTC). */
export function dateInZone(at: Date, timeZone = 'UTC'): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}
