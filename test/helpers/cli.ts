/**
 * For tests that drive the two CLIs a user types: a dev server and a worker running for the
 * calling file, a NIGHTSHIFT_ROOT prepared by the test, and `temporal` / `nightshift`
 * runners pointed at that server and root.
 */
import { execFile } from 'node:child_process';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NightshiftWorker } from '../../worker';
import { loadConfig } from '../../common/config';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { startDevServer, testConfig, testWorker } from './temporal';
import { nightshiftBin } from './bin';

const run = promisify(execFile);

export interface CliHarness {
  readonly env: TestWorkflowEnvironment;
  readonly root: string;
  temporal(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  nightshift(...args: string[]): Promise<{ stdout: string; stderr: string }>;
}

/** `prepareRoot` fills the fresh NIGHTSHIFT_ROOT (task files) before the worker starts. */
export function cliHarness(prepareRoot: (root: string) => void = () => undefined): CliHarness {
  let env: TestWorkflowEnvironment | undefined;
  let root: string | undefined;
  let worker: NightshiftWorker | undefined;
  let workerDone: Promise<void> | undefined;
  before(async () => {
    env = await startDevServer();
    const config = testConfig(env);
    root = config.root;
    prepareRoot(root);
    worker = await testWorker(env, config);
    workerDone = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await workerDone;
    await env?.teardown();
    // Command tasks ran in sandboxes: the sandbox runtime's proxies would keep the process alive.
    await shutdownIsolation();
  });
  const started = () => {
    if (!env || !root) throw new Error('the dev server is not started yet; use the harness inside a test');
    return { env, root };
  };
  return {
    get env() {
      return started().env;
    },
    get root() {
      return started().root;
    },
    temporal: (...args) =>
      run(loadConfig().temporalCli, [...args, '--address', started().env.address], { encoding: 'utf8' }),
    nightshift: (...args) => {
      const { env: e, root: r } = started();
      return run(process.execPath, [nightshiftBin(), ...args], {
        cwd: r,
        encoding: 'utf8',
        env: { ...process.env, TEMPORAL_ADDRESS: e.address, NIGHTSHIFT_ROOT: r },
      });
    },
  };
}
