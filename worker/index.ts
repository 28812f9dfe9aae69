/**
 * Builds a nightshift worker: the workflows bundle plus activities made over real
 * dependencies. `nightshift worker` runs one; tests and benchmarks build their own with
 * activities pointed at loopback servers.
 */
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { TASK_QUEUE, type NightshiftConfig } from '../common/config';
import { installModelFile } from '../common/models-file';
import { openStateStore } from '../common/store';

/** Short enough for a container's stop timeout (10 s by default) to leave time for the hand-back. */
export const SHUTDOWN_GRACE = '5 seconds';

type Bundle = Awaited<ReturnType<typeof bundleWorkflowCode>>;
let bundle: Promise<Bundle> | undefined;

/** Bundling takes seconds; one process needs it once however many workers it builds. */
export function workflowBundle(): Promise<Bundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: path.join(__dirname, '..', 'workflows', 'index.ts'), logger: quietBundlerLogger });
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
  /** @default 'nightshift' */
  taskQueue?: string;
  /** Passed through to the Temporal worker (concurrency limits and the like). */
  workerOptions?: Partial<WorkerOptions>;
}

export async function createNightshiftWorker(o: NightshiftWorkerOptions): Promise<Worker> {
  // Activities price and shape requests from the table in force; a bad file stops the worker here, not mid-night.
  installModelFile(o.config.modelsFile);
  // Created or migrated here, so a worker that cannot reach its store stops at start, not mid-night.
  const store = o.deps?.store ?? (await openStateStore(o.config));
  return Worker.create({
    connection: o.connection,
    namespace: o.config.temporal.namespace,
    taskQueue: o.taskQueue ?? TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    // The worker's own connection serves the activities that update other workflows.
    activities: createActivities({ config: o.config, temporalClient: new Client({ connection: o.connection, namespace: o.config.temporal.namespace }), ...o.deps, store }),
    maxConcurrentActivityTaskExecutions: 200,
    // Beats reach the server every 5 s at most, well inside HEARTBEAT_TIMEOUT_MS (the SDK would otherwise hold them back for 80% of it).
    maxHeartbeatThrottleInterval: '5 seconds',
    // On SIGTERM/SIGINT running activities get this long to finish; then they are cancelled and fail retryably, so another worker takes them over.
    shutdownGraceTime: SHUTDOWN_GRACE,
    ...o.workerOptions,
  });
}

export async function connectWorker(config: NightshiftConfig): Promise<NativeConnection> {
  return NativeConnection.connect(config.temporal.connection);
}
