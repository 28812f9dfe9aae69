/** Entry point of a worker process (`nightshift worker`, the Docker image, crash tests). */
import * as os from 'node:os';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { loadConfig, type NightshiftConfig } from '../common/config';
import { openStateStore, type StateStore } from '../common/store';
import { localSandboxRoot } from '../activities';
import { sweepOrphanVolumes } from '../sandbox/disk-volume';
import { shutdownIsolation } from '../sandbox/local';
import { connectWorker, createNightshiftWorker, SHUTDOWN_GRACE, type NightshiftWorker } from './index';
import { installLogger, logWorker, setNightLogs } from './log';
import { NightLogs } from './night-log';

const say = logWorker;

/** Waits between tries to reach the server: quick at first, then every 15 s for as long as it takes. */
const RETRY_DELAYS_S = [1, 2, 4, 8, 15];

/** Why the server could not be reached, in a few words ("connection refused"). */
export function unreachableReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/refused/i.test(message)) return 'connection refused';
  if (/dns|resolve|ENOTFOUND|name or service/i.test(message)) return 'host not found';
  if (/timed? ?out|deadline/i.test(message)) return 'timed out';
  return message.split('\n')[0].slice(0, 200);
}

/** Connects and registers the worker, retrying with backoff while the server cannot be reached. */
async function connectAndCreate(
  config: NightshiftConfig,
  store: StateStore,
  workerOptions: Partial<WorkerOptions> | undefined,
  stopped: () => boolean,
): Promise<{ connection: NativeConnection; worker: NightshiftWorker } | undefined> {
  for (let attempt = 0; !stopped(); attempt++) {
    let connection: NativeConnection | undefined;
    try {
      connection = await connectWorker(config);
      const worker = await createNightshiftWorker({
        config,
        connection,
        workerOptions,
        ownHostQueue: true,
        deps: { store },
      });
      return { connection, worker };
    } catch (err) {
      await connection?.close().catch(() => undefined);
      // A wrong namespace or a bad workflow bundle will not mend itself by waiting.
      if (!isUnreachable(err)) throw err;
      const delay = RETRY_DELAYS_S[Math.min(attempt, RETRY_DELAYS_S.length - 1)];
      say(`waiting for Temporal at ${config.temporal.address}: ${unreachableReason(err)}; retrying in ${delay} s`);
      await sleepUnless(delay * 1000, stopped);
    }
  }
  return undefined;
}

function isUnreachable(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return (
    e?.name === 'TransportError' ||
    /transport|connect|refused|unavailable|dns|timed? ?out|deadline|broken pipe|reset/i.test(String(e?.message ?? err))
  );
}

async function sleepUnless(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(200, until - Date.now())));
}

/**
 * Runs a worker until SIGINT/SIGTERM. Waits for the server when it is not up yet, and
 * reconnects when a running worker loses it (a server restart).
 * `workerOptions` lets test entry points add interceptors; `config` carries the CLI's flags.
 */
export async function runWorker(
  o: { workerOptions?: Partial<WorkerOptions>; config?: NightshiftConfig } = {},
): Promise<void> {
  const config = o.config ?? loadConfig();
  let stopping = false;
  let running = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // Worker.run() drains on these signals by itself (the SDK's runtime listens); this says so.
    if (running)
      say(
        `${signal}: draining; running activities get ${SHUTDOWN_GRACE} to finish, then go back to the server for another worker`,
      );
    else say(`${signal}: stopping`);
  };
  // Opened once, before Temporal: a store that cannot be reached stops the worker with its own error, not a wait for Temporal.
  const store = await openStateStore(config);
  // Before any sandbox is opened: volumes an earlier worker here left mounted when it was killed.
  const swept = await sweepOrphanVolumes(localSandboxRoot(config)).catch((err: Error) => {
    say(`could not sweep the sandbox volumes dead workers left: ${err.message}`);
    return [];
  });
  if (swept.length)
    say(
      `unmounted ${swept.length} sandbox volume${swept.length === 1 ? '' : 's'} left by dead workers: ${swept.join(', ')}`,
    );
  // The nights' log_file: this process's task events for a night go to its file too.
  const nightLogs = new NightLogs({ root: config.root, home: os.homedir(), store, say });
  setNightLogs(nightLogs);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    while (!stopping) {
      const up = await connectAndCreate(config, store, o.workerOptions, () => stopping);
      if (!up) break;
      // What it takes and leaves, before the ready line: a worker without a model key is not broken, it leaves model calls to others.
      for (const line of up.worker.describe()) say(line);
      say(
        `task queue ${up.worker.taskQueue} on ${config.temporal.address} (namespace ${config.temporal.namespace}), root ${config.root}, own queue ${up.worker.hostTaskQueue}, state store ${store.location}`,
      );
      running = true;
      try {
        // Resolves after SIGINT/SIGTERM, once in-flight tasks are finished or handed back.
        await up.worker.run();
      } catch (err) {
        if (stopping || !isUnreachable(err)) throw err;
        say(`lost Temporal at ${config.temporal.address}: ${unreachableReason(err)}; reconnecting`);
      } finally {
        running = false;
        await up.connection.close().catch(() => undefined);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await nightLogs.flushed();
    setNightLogs(undefined);
    await store.close().catch(() => undefined);
    // The sandbox runtime's network proxies would otherwise keep the process alive.
    await shutdownIsolation();
  }
}

if (require.main === module) {
  installLogger(loadConfig().log);
  runWorker().catch((err) => {
    say(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
