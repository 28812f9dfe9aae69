/**
 * The branch names nightshift works on and delivers to, in one place: the workflow picks
 * the delivery branch, activities check the work branch out and read a PR's branch back
 * into its batch and task. Workflows import this module, so it stays deterministic: no
 * I/O, clock or Node built-ins.
 */
import type { TaskSpec } from '../taskfile/types';
import { batchIdFor } from '../contract';

/** What every branch nightshift creates starts with. */
export const NIGHTSHIFT_BRANCH_PREFIX = 'nightshift/';

const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The branch a task delivers to. The night's default batch (`nightshift-<date>`) delivers
 * to `nightshift/<date>/<task>`; any other batch (another --workflow-id, a schedule's
 * run, the intake) to `nightshift/<batch>/<task>`, so two batches on one date never
 * share a branch. The batch ID is made ref-safe injectively: every character outside
 * [A-Za-z0-9_-] becomes %XX, and an ID that reads as a bare date is escaped too, so no
 * two batches, and no batch and a night's default, get the same name.
 */
export function deliveryBranch(batchId: string, date: string, taskId: string): string {
  if (batchId === batchIdFor(date)) return LEGACY_DELIVERY_BRANCH(date, taskId);
  return `${NIGHTSHIFT_BRANCH_PREFIX}${refSafeName(batchId)}/${taskId}`;
}

/** The branch names before they were made per batch: what tasks started then keep using. */
export const LEGACY_DELIVERY_BRANCH = (date: string, taskId: string) => `${NIGHTSHIFT_BRANCH_PREFIX}${date}/${taskId}`;

function refSafeName(id: string): string {
  const escape = (c: string) => {
    const uri = encodeURIComponent(c);
    // encodeURIComponent leaves !'()*.~ as they are; those become %XX here too.
    return uri.startsWith('%') ? uri : `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
  };
  const name = Array.from(id, (c) => (/[A-Za-z0-9_-]/.test(c) ? c : escape(c))).join('');
  return BARE_DATE.test(name) ? escape(name[0]) + name.slice(1) : name;
}

/** The batch and task a delivery branch belongs to: the inverse of deliveryBranch. */
export function taskOfBranch(branch: string): { batchId: string; taskId: string } | undefined {
  if (!branch.startsWith(NIGHTSHIFT_BRANCH_PREFIX)) return undefined;
  const [segment, ...rest] = branch.slice(NIGHTSHIFT_BRANCH_PREFIX.length).split('/');
  const taskId = rest.join('/');
  if (!segment || !taskId) return undefined;
  if (BARE_DATE.test(segment)) return { batchId: batchIdFor(segment), taskId };
  try {
    return { batchId: decodeURIComponent(segment), taskId };
  } catch {
    return undefined;
  }
}

/**
 * The branch a task's workspace is checked out on while the agent works: the task's own
 * `branch:` if it names one, else `nightshift/<task>`. It never leaves the sandbox; what is
 * pushed is deliveryBranch.
 */
export function workBranch(task: Pick<TaskSpec, 'id' | 'branch'>): string {
  return task.branch ?? `${NIGHTSHIFT_BRANCH_PREFIX}${task.id}`;
}
