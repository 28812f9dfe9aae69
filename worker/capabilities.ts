/**
 * What this worker can run, decided once at start from its environment. It polls a
 * capability's queue (common/task-queues.ts) only when it has the capability, so work it
 * cannot do waits for a worker that can instead of failing here.
 */
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import type { NightshiftConfig } from '../common/config';
import { CAPABILITIES, CAPABILITY_NEEDS, type Capability } from '../common/task-queues';

export interface WorkerCapabilities {
  /** Capabilities that route work (each has its own queue). */
  routed: Set<Capability>;
  /** GITHUB_TOKEN: pushes over https and pull requests. Told, not routed: delivery says what it lacked in the task's result. */
  github: boolean;
  /** Sandbox providers this host can start. Told, not routed. */
  sandboxes: string[];
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      accessSync(path.join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * `modelConfigured`: whether the activities got a model client (a test passes its own
 * loopback client; otherwise ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL).
 */
export function detectCapabilities(config: NightshiftConfig, modelConfigured: boolean, env: NodeJS.ProcessEnv = process.env): WorkerCapabilities {
  const routed = new Set<Capability>();
  if (modelConfigured) routed.add('model');
  const sandboxes: string[] = [];
  if (onPath('bwrap', env)) sandboxes.push('local (bwrap)');
  if (config.e2b.apiKey) sandboxes.push('e2b');
  if (onPath('docker', env)) sandboxes.push('docker');
  return { routed, github: Boolean(config.github.token), sandboxes };
}

/** The lines a worker prints at start: what it will take and what it leaves to other workers. */
export function describeCapabilities(c: WorkerCapabilities, queues: { queue: string; capability?: Capability }[]): string[] {
  const lines = [`polls ${queues.map((q) => q.queue).join(', ')}`];
  for (const capability of CAPABILITIES) {
    if (!c.routed.has(capability)) lines.push(`leaves ${capability} work to other workers: it needs ${CAPABILITY_NEEDS[capability]}`);
  }
  lines.push(c.github ? 'GitHub: GITHUB_TOKEN set (push and pull requests)' : 'GitHub: no GITHUB_TOKEN (pushes to https remotes and pull requests will fail; local remotes work)');
  lines.push(`sandboxes: ${c.sandboxes.length ? c.sandboxes.join(', ') : 'none found (no bwrap, docker or E2B_API_KEY)'}`);
  return lines;
}
