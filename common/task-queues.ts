/**
 * Task queue names, in one place: the public queue, the demo's own, and the queues only
 * workers with a capability poll. Pure; workflow code imports it.
 *
 * Temporal hands an activity to whichever worker polls its queue, so a worker that cannot
 * do a kind of work must not poll where that work is put. Work that needs a capability is
 * scheduled on `<queue>-<capability>`, next to the workflow's own queue `<queue>`; a worker
 * polls it only when it has the capability. With no such worker the activity waits
 * (schedule-to-start) instead of failing, and `status` says what it waits for.
 *
 * Each worker also polls a queue of its own (Temporal's worker-specific task queue
 * pattern): creating a local sandbox returns it, and every activity that touches that
 * sandbox is scheduled there, because the sandbox is a directory on that host's disk.
 */

/** The task queue is part of the public contract (design.md). */
export const TASK_QUEUE = 'nightshift';

/** `npm run demo`'s own queue, so an outside `npm run worker` never takes the demo's tasks. */
export const DEMO_TASK_QUEUE = 'nightshift-demo';

/** What a worker may lack. `model`: a model API is configured (ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL). */
export type Capability = 'model';

export const CAPABILITIES: readonly Capability[] = ['model'];

/** The activities each capability's queue carries; a worker without it does not register them. */
export const CAPABILITY_ACTIVITIES: Record<Capability, readonly string[]> = {
  // Planning (decomposeGoal, planFromFindings) is not here: without a model it plans by heuristic.
  model: ['callModel', 'keepCacheWarm', 'simpleModelCall', 'learnSkill', 'submitSkillBatch', 'collectSkillBatch', 'submitSimpleBatch', 'simpleBatchState', 'cancelSimpleBatch', 'collectSimpleBatch'],
};

/** What a worker needs for a capability, in the words `status` and the worker use. */
export const CAPABILITY_NEEDS: Record<Capability, string> = {
  model: 'a model configured (ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL)',
};

/** The queue of `capability`'s work for workflows on `workflowQueue`. */
export function capabilityQueue(workflowQueue: string, capability: Capability): string {
  return `${workflowQueue}-${capability}`;
}

/** The capability whose work an activity type is, if any. */
export function capabilityOf(activityType: string): Capability | undefined {
  return CAPABILITIES.find((c) => CAPABILITY_ACTIVITIES[c].includes(activityType));
}

/** The queue of the worker(s) with host ID `hostId` (NightshiftConfig.hostId). */
export function hostTaskQueue(hostId: string): string {
  return `${TASK_QUEUE}@${hostId}`;
}
