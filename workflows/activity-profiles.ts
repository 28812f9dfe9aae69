/**
 * Activity options, decided once for every workflow. The rule: after a worker dies, every
 * activity's next attempt starts within 30 s. An activity that may run longer than a few
 * seconds heartbeats (activities/heartbeat.ts) and has HEARTBEAT_TIMEOUT, so a dead worker
 * is noticed within it however long the work may legitimately take; every other activity
 * has a start-to-close of seconds. First retries come after 1-2 s so the backoff does not
 * spend the margin. Eager dispatch stays on: it saves a round trip per step, and with these
 * timeouts an activity handed to a worker that then dies is retried as quickly as any other.
 *
 * Work that needs a capability (common/task-queues.ts) is routed here too, to the queue only
 * workers with it poll; those profiles are built inside a running workflow (they ask
 * `patched` and the workflow's queue), the rest are pure data.
 */
import {
  ActivityFailure,
  patched,
  TimeoutFailure,
  workflowInfo,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import { DELIVERY_NON_RETRYABLE_ERRORS, NON_RETRYABLE_ERRORS } from '../common/errors';
import { deliversToGitHub } from '../common/remote-repo';
import { capabilityQueue, isHostTaskQueue, isRemoteProvider, type Capability } from '../common/task-queues';
import { MODEL_RETRY } from './budget/arithmetic';

/**
 * Model calls go to `<queue>-model`. Histories from before it scheduled them on the
 * workflow's own queue; they keep doing so on replay.
 */
export const CAPABILITY_QUEUES_PATCH = 'activities-on-capability-queues';

/**
 * Pull requests go to `<queue>-github`, and every step on an e2b or Docker sandbox to
 * `<queue>-e2b` / `<queue>-docker`. Histories from before scheduled them on the workflow's
 * own queue; they keep doing so on replay.
 */
export const GITHUB_AND_PROVIDER_QUEUES_PATCH = 'github-and-sandbox-provider-queues';

/**
 * The local sandbox of a task delivered on GitHub is made on `<queue>-github`, so the host
 * that holds it (and pushes its branch from there) has GITHUB_TOKEN. Histories from before
 * made it on any worker; they keep doing so on replay.
 */
export const GITHUB_TASK_SANDBOXES_PATCH = 'github-task-sandboxes-on-token-hosts';

/** `options` on the queue of `capability`'s work, when the history took routing in under `patchId`. Call inside a workflow. */
function needing(capability: Capability, options: ActivityOptions, patchId = CAPABILITY_QUEUES_PATCH): ActivityOptions {
  if (!patched(patchId)) return options;
  return { ...options, taskQueue: capabilityQueue(workflowInfo().taskQueue, capability) };
}

/** `options` on the GitHub queue: only workers with GITHUB_TOKEN take them. Call inside a workflow. */
export const onGitHub = (options: ActivityOptions): ActivityOptions =>
  needing('github', options, GITHUB_AND_PROVIDER_QUEUES_PATCH);

/**
 * Where the steps on a sandbox of `provider` go before it exists: a remote provider's
 * queue, which only workers that reach the provider poll, and which they keep going to
 * (any such worker reaches the sandbox). Empty for local sandboxes, whose creator's host
 * queue is known only once created. Call inside a workflow.
 */
export function providerHost(provider: string | undefined, scheduleToStartMs?: number): SandboxHost {
  if (!isRemoteProvider(provider) || !patched(GITHUB_AND_PROVIDER_QUEUES_PATCH)) return { scheduleToStartMs };
  return { taskQueue: capabilityQueue(workflowInfo().taskQueue, provider), scheduleToStartMs };
}

/**
 * Where a task's sandbox is made (created, or rebuilt after a loss), given `steps`, where its
 * steps go before it exists (providerHost). A remote provider's sandbox is made there too;
 * a local one of a task delivered on GitHub on the GitHub queue, whose worker returns its
 * own host queue like any creator. Call inside a workflow.
 */
export function sandboxCreator(
  task: { repo?: string; pullRequest?: { repo?: string } },
  provider: string | undefined,
  steps: SandboxHost,
): SandboxHost {
  if (isRemoteProvider(provider) || !deliversToGitHub(task) || !patched(GITHUB_TASK_SANDBOXES_PATCH))
    return { ...steps };
  return { ...steps, taskQueue: capabilityQueue(workflowInfo().taskQueue, 'github') };
}

/**
 * Workers beat at most every 5 s (worker/index.ts), so four beats fit in this; with a 2 s
 * first retry a dead worker's activity starts again within ~22 s.
 */
export const HEARTBEAT_TIMEOUT_MS = 20_000;

const quickRetry: RetryPolicy = {
  initialInterval: '1 second',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
};

/** Options that heartbeat, with a heartbeat timeout a test may shorten. */
function beating(startToCloseTimeout: ActivityOptions['startToCloseTimeout'], retry: RetryPolicy) {
  return (heartbeatTimeout: number = HEARTBEAT_TIMEOUT_MS): ActivityOptions => ({
    startToCloseTimeout,
    heartbeatTimeout,
    retry,
  });
}

/**
 * callModel, simpleModelCall: a streamed answer of max_tokens takes minutes; backoff for
 * 429/529/5xx (a retry-after overrides the interval), the same backoff the workflow uses
 * when it owns the retries (MODEL_RETRY).
 */
const modelCallOptions = beating('10 minutes', {
  initialInterval: MODEL_RETRY.initialMs,
  backoffCoefficient: MODEL_RETRY.coefficient,
  maximumInterval: MODEL_RETRY.maxIntervalMs,
  maximumAttempts: MODEL_RETRY.maxAttempts,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
});

/**
 * callModelOnce, simpleModelCallOnce: one attempt per activity, because the workflow owns the
 * retries (workflows/budget/task-side.ts callWithBookedAttempts): every attempt is reserved before it
 * starts and, when its outcome is unknown, booked before the next. The heartbeat timeout
 * turns a dead worker into a timeout carrying the usage streamed so far.
 */
const modelCallOnceOptions = beating('10 minutes', { maximumAttempts: 1 });

/** callModel, simpleModelCall with the activity's own retries, on the model queue. Call inside a workflow. */
export const modelCall = (heartbeatTimeout?: number) => needing('model', modelCallOptions(heartbeatTimeout));

/** callModelOnce, simpleModelCallOnce, on the model queue. Call inside a workflow. */
export const modelCallOnce = (heartbeatTimeout?: number) => needing('model', modelCallOnceOptions(heartbeatTimeout));

/** The Message Batches API's submit, poll, cancel and collect: a request or two each, heartbeating; the waiting is the workflow's timers. */
const batchStepOptions = beating('5 minutes', {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
});

/** The batch steps on the model queue: they hold the API key. Call inside a workflow. */
export const batchStep = (heartbeatTimeout?: number) => needing('model', batchStepOptions(heartbeatTimeout));

/** runTool: bash may run for up to 30 minutes; a few minutes more for the checkpoint after it. */
export const toolCall = beating('35 minutes', {
  initialInterval: '1 second',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
});

/** Create, prepare, recreate, keep work, kill: a clone or a copy of a large workspace may take many minutes. */
export const sandboxStep = beating('20 minutes', {
  initialInterval: '1 second',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
});

/**
 * Delivery's git and GitHub steps: a push or clone of a large repository may take many
 * minutes. Delivery's refusals (a conflict, a changed tree, a refused PR) are not retried.
 */
export const gitStep = beating('20 minutes', {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 6,
  nonRetryableErrorTypes: DELIVERY_NON_RETRYABLE_ERRORS,
});

/** Acceptance checks: each command may take up to 30 minutes, and a round runs several. */
export const checksRun = beating('4 hours', {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 3,
  nonRetryableErrorTypes: DELIVERY_NON_RETRYABLE_ERRORS,
});

/**
 * Planning, improvement loops, skill learning: one or a few model calls of minutes each.
 * Planning runs on any worker: without a model it plans by heuristic, as documented.
 */
export const planningCall = beating('15 minutes', {
  initialInterval: '2 seconds',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
});

/** learnSkill, which cannot work without a model, on the model queue. Call inside a workflow. */
export const skillLearningCall = () => needing('model', planningCall());

/** followUpFirst's reads of GitHub and the store: few attempts, so GitHub down delays a night by little. */
export const followUpRead = beating('20 minutes', { initialInterval: '2 seconds', maximumAttempts: 3 });

/**
 * recordTaskResults: a result not stored would be missing from the report, so a store that
 * is down holds the night up (retried without end, the pending activity showing why).
 */
export const resultStore = beating('5 minutes', { initialInterval: '1 second', maximumInterval: '30 seconds' });

/** writeStoredReport reads every task's result from the store: 10,000 of them take more than bookkeeping's 15 s on a busy worker. */
export const storedReport = beating('10 minutes', quickRetry);

/** reserveAllowance, reserveDaily: an Update waits on the other workflow's worker, which may itself be recovering. */
export const crossWorkflow = beating('5 minutes', quickRetry);

/** notify: each channel is retried inside the activity, for at most 45 s per channel (common/retry.ts). The activity never throws, so this retry covers only a lost worker. */
export const notifyCall = beating('3 minutes', { initialInterval: '1 second', maximumAttempts: 3 });

/** awaitTaskResult: waits as long as a task may run. */
export const taskWait = beating('7 days', { initialInterval: '1 second', maximumInterval: '30 seconds' });

/**
 * A `command:` task runs up to its own timeout; a minute more lets the sandbox report the
 * kill. A failing command is data, not an error, so attempts are spent only by lost workers
 * (and a stopping worker hands its command back): five, so a night with several worker
 * deaths still finishes it.
 */
export function commandTask(timeoutMs: number, heartbeatTimeout: number = HEARTBEAT_TIMEOUT_MS): ActivityOptions {
  return {
    startToCloseTimeout: timeoutMs + 60_000,
    heartbeatTimeout,
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  };
}

/**
 * Questions, notes, settlements, task-file moves, the spec and the report: a few file
 * writes or one Temporal call, well under a second; 15 s allows a loaded host and keeps a
 * dead worker's retry at ~16 s.
 */
export const bookkeeping: ActivityOptions = { startToCloseTimeout: '15 seconds', retry: quickRetry };

/**
 * An activity for a local sandbox waits this long on its host's own queue (worker-specific
 * task queue) before the host counts as gone and the sandbox is rebuilt elsewhere: the same
 * 30 s a dead worker's activity gets, and long enough for a worker restarted on the same
 * host to poll again.
 */
export const HOST_SCHEDULE_TO_START_MS = 30_000;

/**
 * Where a task's sandbox lives: its host's queue, or a remote provider's queue (providerHost);
 * absent for tasks from before SANDBOX_AFFINITY_PATCH, and for remote sandboxes from before
 * GITHUB_AND_PROVIDER_QUEUES_PATCH.
 */
export interface SandboxHost {
  taskQueue?: string;
  scheduleToStartMs?: number;
}

/**
 * `options` sent to the sandbox's queue, or left on the shared queue when the sandbox has
 * none. Only a host's queue has a schedule-to-start timeout (the host may be gone); on a
 * provider's queue the step waits for a worker that reaches the provider.
 */
export function onHost(options: ActivityOptions, host: SandboxHost): ActivityOptions {
  if (!host.taskQueue) return options;
  if (!isHostTaskQueue(host.taskQueue)) return { ...options, taskQueue: host.taskQueue };
  return {
    ...options,
    taskQueue: host.taskQueue,
    scheduleToStartTimeout: host.scheduleToStartMs ?? HOST_SCHEDULE_TO_START_MS,
  };
}

/**
 * The sandbox's host is gone: its own queue went unpolled past the schedule-to-start
 * timeout (a worker that died mid-activity ends here too, once the retry waits there).
 */
export function hostLost(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}
