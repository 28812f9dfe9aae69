/**
 * A real Temporal dev server for tests, started from the binary scripts/bootstrap.sh
 * built. Nothing is downloaded at test time and Temporal is never mocked.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig, type NightshiftConfig } from '../../common/config';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { SEARCH_ATTRIBUTES } from '../../contract';
import { createNightshiftWorker, type NightshiftWorker, type NightshiftWorkerOptions } from '../../worker';

/** `extraArgs` go to `temporal server start-dev` (e.g. dynamic config values); `port` fixes its port (default: a free one). */
export async function startDevServer(
  extraArgs: string[] = [],
  o: { port?: number } = {},
): Promise<TestWorkflowEnvironment> {
  const cli = loadConfig().temporalCli;
  if (!existsSync(cli)) throw new Error(`no Temporal CLI at ${cli}: run scripts/bootstrap.sh first (npm test does)`);
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      searchAttributes: Object.values(SEARCH_ATTRIBUTES),
      ...(o.port !== undefined ? { ip: '127.0.0.1', port: o.port } : {}),
      extraArgs: ['--log-level', 'error', ...extraArgs],
    },
  });
}

/** A config whose NIGHTSHIFT_ROOT is a fresh temporary directory, connected to `env`. */
export function testConfig(
  env: TestWorkflowEnvironment,
  root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-test-')),
): NightshiftConfig {
  const base = loadConfig({ ...process.env, NIGHTSHIFT_ROOT: root });
  const address = env.address;
  return {
    ...base,
    temporal: { ...base.temporal, address, namespace: env.namespace ?? 'default', connection: { address } },
  };
}

export function testWorker(
  env: TestWorkflowEnvironment,
  config: NightshiftConfig,
  o: Partial<NightshiftWorkerOptions> = {},
): Promise<NightshiftWorker> {
  return createNightshiftWorker({ config, connection: env.nativeConnection, ...o });
}

let seq = 0;
/** Unique batch IDs, so tests sharing a server never collide. */
export function uniqueBatchId(prefix = 'nightshift-test'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}

/**
 * One dev server for the calling test file, torn down after its tests together with the
 * sandbox runtime (whose network proxies would otherwise keep the process alive).
 */
export function devServerForFile(): { readonly env: TestWorkflowEnvironment } {
  let env: TestWorkflowEnvironment | undefined;
  before(async () => {
    env = await startDevServer();
  });
  after(async () => {
    await env?.teardown();
    await shutdownIsolation();
  });
  return {
    get env() {
      if (!env) throw new Error('the dev server is not started yet; use it inside a test');
      return env;
    },
  };
}
