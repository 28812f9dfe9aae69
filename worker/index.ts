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
import { hostTaskQueue } from '../common/task-queues';

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
  return (await createWorkers(o, undefined)).shared;
}

function workerOptions(o: NightshiftWorkerOptions): Partial<WorkerOptions> {
  return {
    connection: o.connection,
    namespace: o.config.temporal.namespace,
    maxConcurrentActivityTaskExecutions: 200,
    // Beats reach the server every 5 s at most, well inside HEARTBEAT_TIMEOUT_MS (the SDK would otherwise hold them back for 80% of it).
    maxHeartbeatThrottleInterval: '5 seconds',
    // On SIGTERM/SIGINT running activities get this long to finish; then they are cancelled and fail retryably, so another worker takes them over.
    shutdownGraceTime: SHUTDOWN_GRACE,
    ...o.workerOptions,
  };
}

async function createWorkers(o: NightshiftWorkerOptions, hostQueue: string | undefined): Promise<{ shared: Worker; host?: Worker }> {
  // Activities price and shape requests from the table in force; a bad file stops the worker here, not mid-night.
  installModelFile(o.config.modelsFile);
  // The worker's own connection serves the activities that update other workflows.
  const temporalClient = new Client({ connection: o.connection, namespace: o.config.temporal.namespace });
  // One set of activities for both queues: the sandboxes they hold are this process's.
  const activities = createActivities({ config: o.config, temporalClient, hostTaskQueue: hostQueue, ...o.deps });
  const shared = await Worker.create({ ...workerOptions(o), taskQueue: o.taskQueue ?? TASK_QUEUE, workflowBundle: await workflowBundle(), activities });
  if (!hostQueue) return { shared };
  return { shared, host: await Worker.create({ ...workerOptions(o), taskQueue: hostQueue, activities }) };
}

/**
 * The two Workers of a worker process (Temporal's worker-specific task queue pattern): one
 * on the shared queue with the workflows and every activity, one on this host's own queue
 * (common/task-queues.ts) for the activities of the local sandboxes created here.
 */
export interface NightshiftWorkers {
  shared: Worker;
  host: Worker;
  hostTaskQueue: string;
  /** Runs both until SIGINT/SIGTERM (or one fails, which stops the other). */
  run(): Promise<void>;
  /** Runs both until `p` settles. */
  runUntil<R>(p: Promise<R>): Promise<R>;
}

export async function createNightshiftWorkers(o: NightshiftWorkerOptions): Promise<NightshiftWorkers> {
  const queue = hostTaskQueue(o.config.hostId);
  const { shared, host } = await createWorkers(o, queue);
  const both = [shared, host!];
  return {
    shared,
    host: host!,
    hostTaskQueue: queue,
    async run() {
      const stopOthers = () => {
        for (const w of both) if (w.getState() === 'RUNNING') w.shutdown();
      };
      const runs = both.map((w) => w.run().finally(stopOthers));
      await Promise.all(runs);
    },
    async runUntil(p) {
      const [r] = await Promise.all([shared.runUntil(p), host!.runUntil(p)]);
      return r;
    },
  };
}

export async function connectWorker(config: NightshiftConfig): Promise<NativeConnection> {
  return NativeConnection.connect(config.temporal.connection);
}
