/** The intake's daily budget arithmetic. Pure, deterministic. */
import type { InFlightTask } from '../../contract';

/** What may still be spent today, with every running task's allowance set aside. */
export function remainingBudget(
  capUsd: number,
  spentUsd: number,
  inFlight: Iterable<Pick<InFlightTask, 'allowanceUsd'>>,
): number {
  let reserved = 0;
  for (const t of inFlight) reserved += t.allowanceUsd;
  return Math.max(0, capUsd - spentUsd - reserved);
}

/** Below this, nothing is left to start a task with. */
const MIN_ALLOWANCE_USD = 0.01;

/**
 * A task's cap: its own max_cost_usd cut to what is left; a task without one gets an even
 * share of what is left across the free slots, so one task cannot starve the others.
 * Undefined when nothing is left.
 */
export function allowanceFor(
  taskCapUsd: number | undefined,
  remainingUsd: number,
  freeSlots: number,
): number | undefined {
  if (remainingUsd < MIN_ALLOWANCE_USD) return undefined;
  return Math.min(taskCapUsd ?? remainingUsd / Math.max(1, freeSlots), remainingUsd);
}
