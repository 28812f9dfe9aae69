/**
 * Builds a nightshift worker: the workflows bundle plus activities made over real
 * dependencies. `nightshift worker` runs one; tests and benchmarks build their own with
 * activities pointed at loopback servers.
 */
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { type NightshiftConfig } from '../common/config';
import { installModelFile } from '../common/models-file';
import {
  CAPABILITIES,
  capabilityActivities,
  capabilityQueue,
  hostTaskQueue,
  type Capability,
} from '../common/task-queues';
import { TASK_QUEUE } from '../contract';
import { describeCapabilities, detectCapabilities, type WorkerCapabilities } from './capabilities';
import { promoteWhenPolling, workerDeploymentOptions } from './versioning';
import { withTaskEvents } from './log';
import { openStateStore } from '../common/store';

/** Short enough for a container's stop timeout (10 s by default) to leave time for the hand-back. */
export const SHUTDOWN_GRACE = '5 seconds';

type Bundle = Awaited<ReturnType<typeof bundleWorkflowCode>>;
let bundle: Promise<Bundle> | undefined;

/**
 * Bundling takes seconds; one process needs it once however many workers it builds.
 * Resolved beside this file, so a compiled worker bundles the compiled workflows in dist/
 * and one run through tsx (tests, benchmarks) bundles the TypeScript sources.
 */
export function workflowBundle(): Promise<Bundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

export interface NightshiftWorkerOptions {
  config: NightshiftConfig;
  connection: NativeConnection;
  /** Overrides for activity dependencies (tests point these at loopback servers). */
  deps?: Partial<ActivityDeps>;
  /** The queue the workflows are on; capability queues are named after it. @default 'nightshift' */
  taskQueue?: string;
  /** Passed through to the Temporal worker (concurrency limits and the like). */
  workerOptions?: Partial<WorkerOptions>;
}

/**
 * The Temporal workers of one nightshift worker (a Temporal worker polls a single queue):
 * one on the task queue with the workflows and the activities anyone can run, one per
 * capability it has on that capability's queue, and, for a worker process, one on its
 * host's own queue for the activities of the local sandboxes it created (Temporal's
 * worker-specific task queue pattern). They run and stop together.
 */
export class NightshiftWorker {
  constructor(
    private readonly main: Worker,
    private readonly capable: { capability: Capability; queue: string; worker: Worker }[],
    readonly capabilities: WorkerCapabilities,
    private readonly host?: { queue: string; worker: Worker },
  ) {}

  /** This host's own queue, when the worker polls one. */
  get hostTaskQueue(): string | undefined {
    return this.host?.queue;
  }

  private all(): Worker[] {
    return [this.main, ...this.capable.map((c) => c.worker), ...(this.host ? [this.host.worker] : [])];
  }

  get taskQueue(): string {
    return this.main.options.taskQueue;
  }

  /** What the worker takes and what it leaves to others, for its start-up lines. */
  describe(): string[] {
    return describeCapabilities(this.capabilities, [
      { queue: this.taskQueue },
      ...this.capable.map(({ capability, queue }) => ({ queue, capability })),
    ]);
  }

  /** Runs until SIGINT/SIGTERM or `shutdown()`; one worker failing stops the others. */
  async run(): Promise<void> {
    const runs = this.all().map((w) =>
      w.run().catch((err: unknown) => {
        this.shutdown();
        throw err;
      }),
    );
    await Promise.all(runs.map((r) => r.catch(() => undefined)));
    await Promise.all(runs);
  }

  /** Like Worker.runUntil: runs until `until` settles, then shuts down and waits for the drain. */
  async runUntil<R>(until: Promise<R> | (() => Promise<R>)): Promise<R> {
    const running = this.run();
    try {
      return await Promise.race([
        typeof until === 'function' ? until() : until,
        running.then(() => Promise.reject(new Error('the worker stopped before the awaited work finished'))),
      ]);
    } finally {
      this.shutdown();
      await running.catch(() => undefined);
    }
  }

  shutdown(): void {
    for (const w of this.all()) if (w.getState() === 'RUNNING') w.shutdown();
  }

  getState(): ReturnType<Worker['getState']> {
    return this.main.getState();
  }
}

/**
 * `ownHostQueue`: also poll this host's own queue, so local sandboxes created here are
 * worked on here (a worker process; in-process test workers share one root and skip it).
 */
export async function createNightshiftWorker(
  o: NightshiftWorkerOptions & { ownHostQueue?: boolean },
): Promise<NightshiftWorker> {
  // Activities price and shape requests from the table in force; a bad file stops the worker here, not mid-night.
  installModelFile(o.config.modelsFile);
  // Created or migrated here, so a worker that cannot reach its store stops at start, not mid-night.
  const store = o.deps?.store ?? (await openStateStore(o.config));
  const code = await workflowBundle();
  // The worker's own connection serves the activities that update other workflows.
  const client = new Client({ connection: o.connection, namespace: o.config.temporal.namespace });
  const hostQueue = o.ownHostQueue ? hostTaskQueue(o.config.hostId) : undefined;
  // One set of activities for every queue: the sandboxes they hold are this process's.
  const activities = createActivities({
    config: o.config,
    temporalClient: client,
    hostTaskQueue: hostQueue,
    ...o.deps,
    store,
  });
  const modelConfigured =
    o.deps && 'anthropic' in o.deps
      ? o.deps.anthropic !== undefined
      : Boolean(o.config.anthropic.apiKey || o.config.anthropic.baseUrl);
  const capabilities = detectCapabilities(o.config, {
    modelConfigured,
    givenProviders: Object.keys(o.deps?.otherSandboxes ?? {}),
  });
  const taskQueue = o.taskQueue ?? TASK_QUEUE;
  const deployment = workerDeploymentOptions(o.config.deployment, code.code);
  const common: Partial<WorkerOptions> = {
    connection: o.connection,
    namespace: o.config.temporal.namespace,
    // Every queue of this worker belongs to its version, so a pinned night's model calls reach the same code.
    workerDeploymentOptions: deployment,
    maxConcurrentActivityTaskExecutions: 200,
    // Beats reach the server every 5 s at most, well inside HEARTBEAT_TIMEOUT_MS (the SDK would otherwise hold them back for 80% of it).
    maxHeartbeatThrottleInterval: '5 seconds',
    // On SIGTERM/SIGINT running activities get this long to finish; then they are cancelled and fail retryably, so another worker takes them over.
    shutdownGraceTime: SHUTDOWN_GRACE,
  };
  // GitHub's activities stay on the main queue even without a token: a PR for a local remote
  // goes there and is answered "skipped"; one for GitHub goes to the GitHub queue instead.
  const lacking = CAPABILITIES.filter((c) => c !== 'github' && !capabilities.routed.has(c)).flatMap(
    (c) => capabilityActivities(c) ?? [],
  );
  // Work it cannot do is not registered at all: a model call of a night from before the
  // capability queues, landing here, is then retried until a capable worker takes it.
  const mainActivities = Object.fromEntries(Object.entries(activities).filter(([name]) => !lacking.includes(name)));
  const main = await Worker.create({
    ...common,
    taskQueue,
    workflowBundle: code,
    activities: mainActivities,
    ...o.workerOptions,
    interceptors: withTaskEvents(o.workerOptions?.interceptors),
  });
  // Activities only on the other queues: the workflows stay on the main queue.
  const { workflowBundle: _bundle, workflowsPath: _path, ...activityOptions } = o.workerOptions ?? {};
  const capable = [];
  for (const capability of capabilities.routed) {
    // A provider's queue carries every step on its sandboxes: all this worker can run.
    const carried = capabilityActivities(capability);
    const own = carried
      ? Object.fromEntries(Object.entries(activities).filter(([name]) => carried.includes(name)))
      : mainActivities;
    const queue = capabilityQueue(taskQueue, capability);
    capable.push({
      capability,
      queue,
      worker: await Worker.create({
        ...common,
        taskQueue: queue,
        activities: own,
        ...activityOptions,
        interceptors: withTaskEvents(o.workerOptions?.interceptors),
      }),
    });
  }
  const host = hostQueue
    ? {
        queue: hostQueue,
        worker: await Worker.create({
          ...common,
          taskQueue: hostQueue,
          activities: mainActivities,
          ...activityOptions,
          interceptors: withTaskEvents(o.workerOptions?.interceptors),
        }),
      }
    : undefined;
  void promoteWhenPolling({
    worker: main,
    client,
    settings: o.config.deployment,
    options: o.workerOptions?.workerDeploymentOptions ?? deployment,
    say: (line) => console.error(`nightshift worker: ${line}`),
  });
  return new NightshiftWorker(main, capable, capabilities, host);
}

export async function connectWorker(config: NightshiftConfig): Promise<NativeConnection> {
  return NativeConnection.connect(config.temporal.connection);
}
