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
 * A remote sandbox (e2b, Docker) is reached from any worker that reaches its provider, so
 * every step on one goes to that provider's queue, `<queue>-e2b` or `<queue>-docker`.
 *
 * Each worker also polls a queue of its own (Temporal's worker-specific task queue
 * pattern): creating a local sandbox returns it, and every activity that touches that
 * sandbox is scheduled there, because the sandbox is a directory on that host's disk.
 * A task delivered on GitHub has its local sandbox made on the GitHub queue, so that host
 * has the token its push needs.
 */

import { TASK_QUEUE } from '../contract/names';

/** `npm run demo`'s own queue, so an outside `npm run worker` never takes the demo's tasks. */
export const DEMO_TASK_QUEUE = 'nightshift-demo';

/**
 * What a worker may lack. `model`: a model API is configured. `github`: it has a token for
 * GitHub's API and for pushes to https remotes. `e2b`, `docker`: it can reach that sandbox provider.
 */
export type Capability = 'model' | 'github' | 'e2b' | 'docker';

export const CAPABILITIES: readonly Capability[] = ['model', 'github', 'e2b', 'docker'];

/** The remote sandbox providers: every activity on such a sandbox goes to the provider's queue. */
export type RemoteProvider = Extract<Capability, 'e2b' | 'docker'>;
export const REMOTE_PROVIDERS: readonly RemoteProvider[] = ['e2b', 'docker'];

/**
 * The activities each capability's queue carries; a worker without it does not register them.
 * A remote provider's queue carries whatever touches its sandboxes, so it has no list: a
 * worker polling it registers all it can run.
 */
export const CAPABILITY_ACTIVITIES: Record<Exclude<Capability, RemoteProvider>, readonly string[]> = {
  // Planning (decomposeGoal, planFromFindings) is not here: without a model it plans by heuristic.
  model: [
    'callModel',
    'keepCacheWarm',
    'simpleModelCall',
    'learnSkill',
    'submitSkillBatch',
    'collectSkillBatch',
    'submitSimpleBatch',
    'simpleBatchState',
    'cancelSimpleBatch',
    'collectSimpleBatch',
  ],
  // The push runs on the sandbox's host, where the delivery repository holding the commit is:
  // making a GitHub task's local sandbox here makes that host one with the token.
  github: ['openPullRequest', 'reportFollowUp', 'createAgentSandbox', 'recreateAgentSandbox'],
};

/** What a worker needs for a capability, in the words `status` and the worker use. */
export const CAPABILITY_NEEDS: Record<Capability, string> = {
  model: 'a model configured (ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL)',
  github: 'GITHUB_TOKEN set',
  e2b: 'E2B_API_KEY set',
  docker: 'a Docker engine it can reach (DOCKER_HOST or /var/run/docker.sock)',
};

/** What one waiting activity of a capability's queue is, for `status`: "1 model call waits". */
export const CAPABILITY_WORK: Record<Capability, [one: string, many: string]> = {
  model: ['model call', 'model calls'],
  github: ['GitHub step', 'GitHub steps'],
  e2b: ['E2B sandbox step', 'E2B sandbox steps'],
  docker: ['Docker sandbox step', 'Docker sandbox steps'],
};

export const isRemoteProvider = (provider: string | undefined): provider is RemoteProvider =>
  REMOTE_PROVIDERS.includes(provider as RemoteProvider);

/** The activities `capability`'s queue carries; undefined for a provider's queue, which carries every step on its sandboxes. */
export function capabilityActivities(capability: Capability): readonly string[] | undefined {
  return isRemoteProvider(capability) ? undefined : CAPABILITY_ACTIVITIES[capability];
}

/** The queue of `capability`'s work for workflows on `workflowQueue`. */
export function capabilityQueue(workflowQueue: string, capability: Capability): string {
  return `${workflowQueue}-${capability}`;
}

/** The queue of the worker(s) with host ID `hostId` (NightshiftConfig.hostId). */
export function hostTaskQueue(hostId: string): string {
  return `${TASK_QUEUE}@${hostId}`;
}

/** Whether `queue` is a host's own queue (as opposed to a capability's, which waits for any capable worker). */
export function isHostTaskQueue(queue: string): boolean {
  return queue.startsWith(`${TASK_QUEUE}@`);
}
