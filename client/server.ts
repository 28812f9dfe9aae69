/**
 * The embedded default: a Temporal dev server with a persistent SQLite file under
 * .nightshift/, the Web UI on its port + 1000 (8233) or NIGHTSHIFT_UI_PORT, and nightshift's search attributes registered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { stateDir, type NightshiftConfig } from '../common/config';
import { CliError, EXIT } from './errors';

const SEARCH_ATTRIBUTES = ['NightshiftBatch', 'NightshiftTask', 'NightshiftRepo', 'NightshiftStatus'];

/**
 * Worker Versioning needs no switch on this server (deployment versions are on by default),
 * but it re-checks whether an old version still has pinned workflows only every 3 minutes
 * and then waits 3 more for visibility; a local SQLite server needs neither, and the
 * operator waiting to stop the old worker (`nightshift deploy status`) should not wait 6.
 */
export const VERSIONING_DYNAMIC_CONFIG = [
  'matching.wv.VersionDrainageStatusRefreshInterval="5s"',
  'matching.wv.VersionDrainageStatusVisibilityGracePeriod="5s"',
];

export function devServerArgs(config: NightshiftConfig): string[] {
  const [host, port] = config.temporal.address.split(':');
  return [
    'server',
    'start-dev',
    '--db-filename',
    path.join(stateDir(config), 'temporal.db'),
    '--ip',
    host === 'localhost' ? '127.0.0.1' : host,
    '--port',
    port ?? '7233',
    '--ui-port',
    String(config.temporal.uiPort),
    '--namespace',
    config.temporal.namespace,
    '--log-level',
    'warn',
    // Hands an activity to the worker in the same round trip as the workflow task that
    // scheduled it: halves per-task and per-turn latency (BENCHMARKS.md).
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    ...VERSIONING_DYNAMIC_CONFIG.flatMap((v) => ['--dynamic-config-value', v]),
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a}=Keyword`]),
  ];
}

export function reachable(address: string, timeoutMs = 1000): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host: host || 'localhost', port: Number(port ?? 7233) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function requireCli(config: NightshiftConfig): void {
  if (!existsSync(config.temporalCli)) {
    throw new CliError(
      `no Temporal CLI at ${config.temporalCli}; run 'npm run bootstrap' to build it`,
      EXIT.unavailable,
    );
  }
}

/** Runs the dev server in the foreground (`nightshift server`). */
export function runDevServer(config: NightshiftConfig): ChildProcess {
  requireCli(config);
  mkdirSync(stateDir(config), { recursive: true });
  return spawn(config.temporalCli, devServerArgs(config), { stdio: 'inherit' });
}

/**
 * Starts the dev server in the background unless something already answers at
 * TEMPORAL_ADDRESS. Returns the pid it started, or undefined if one was running.
 */
export async function ensureDevServer(config: NightshiftConfig, log: (s: string) => void): Promise<number | undefined> {
  if (await reachable(config.temporal.address)) return undefined;
  requireCli(config);
  mkdirSync(stateDir(config), { recursive: true });
  const logFile = path.join(stateDir(config), 'server.log');
  log(`starting the Temporal dev server (log: ${path.relative(process.cwd(), logFile) || logFile})`);
  const out = openSync(logFile, 'a');
  const child = spawn(config.temporalCli, devServerArgs(config), { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await reachable(config.temporal.address)) return child.pid;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new CliError(
    `the Temporal dev server did not come up at ${config.temporal.address}; see ${logFile}`,
    EXIT.unavailable,
  );
}
