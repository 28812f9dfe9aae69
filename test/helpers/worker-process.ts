/**
 * A nightshift worker in its own OS process, so crash tests can kill it with SIGKILL
 * exactly as a host failure would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const REPO = path.join(__dirname, '..', '..');

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the process printed, for failure messages. */
  output(): string;
  /** Settles when the process has exited. */
  exited: Promise<void>;
  /** Resolves once the process has printed `text`. */
  waitFor(text: string, waitMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  /** The entry script. @default worker/main.ts */
  entry?: string;
  /** Output that means started. @default the line a worker prints once it polls the task queue */
  ready?: string;
}

const POLLING = 'nightshift worker: task queue';

/** Starts `worker/main.ts` (or `o.entry`) and resolves once it is polling the task queue. */
export async function spawnWorker(
  env: Record<string, string>,
  timeoutMs = 60_000,
  o: SpawnOptions = {},
): Promise<WorkerProcess> {
  const ready = o.ready ?? POLLING;
  const child = spawn(process.execPath, ['--import', 'tsx', o.entry ?? path.join(REPO, 'worker', 'main.ts')], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = () => {
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before starting:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    exited,
    async waitFor(text: string, waitMs = 60_000) {
      const until = Date.now() + waitMs;
      while (!out.includes(text)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`worker exited before printing ${JSON.stringify(text)}:\n${out}`);
        if (Date.now() > until)
          throw new Error(`worker did not print ${JSON.stringify(text)} in ${waitMs} ms:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
