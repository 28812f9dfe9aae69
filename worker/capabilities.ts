/**
 * What this worker can run, decided once at start from its environment. It polls a
 * capability's queue (common/task-queues.ts) only when it has the capability, so work it
 * cannot do waits for a worker that can instead of failing here.
 */
import { accessSync, constants } from 'node:fs';
import type { NightshiftConfig } from '../common/config';
import { CAPABILITIES, CAPABILITY_NEEDS, type Capability } from '../common/task-queues';
import { onPath } from '../common/on-path';

export interface WorkerCapabilities {
  /** Capabilities that route work (each has its own queue). */
  routed: Set<Capability>;
  /** Sandbox providers this host can start, for the start-up lines. */
  sandboxes: string[];
}

/** What the worker's activities were built with, where a test or the config decides it rather than the environment. */
export interface CapabilitySources {
  /** The activities got a model client (a test passes its own loopback client; otherwise ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL). */
  modelConfigured: boolean;
  /** Sandbox providers handed in ready-made (tests point these at loopback fakes). */
  givenProviders?: readonly string[];
}

const DOCKER_SOCKET = '/var/run/docker.sock';

/** The engine the Docker provider would talk to (sandbox/docker.ts): DOCKER_HOST, or a socket this process may use. */
function dockerReachable(host: NightshiftConfig['host']): boolean {
  if (host.dockerHost) return true;
  try {
    accessSync(DOCKER_SOCKET, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function detectCapabilities(
  config: Pick<NightshiftConfig, 'github' | 'e2b' | 'host'>,
  sources: CapabilitySources,
): WorkerCapabilities {
  const given = new Set(sources.givenProviders ?? []);
  const has: Record<Capability, boolean> = {
    model: sources.modelConfigured,
    // The pull-request activity refuses to run without the token, whatever client it was given.
    github: Boolean(config.github.token),
    e2b: given.has('e2b') || Boolean(config.e2b.apiKey),
    docker: given.has('docker') || dockerReachable(config.host),
  };
  const routed = new Set(CAPABILITIES.filter((c) => has[c]));
  const sandboxes = [
    ...(onPath('bwrap', config.host.searchPath) ? ['local (bwrap)'] : []),
    ...(has.e2b ? ['e2b'] : []),
    ...(has.docker ? ['docker'] : []),
  ];
  return { routed, sandboxes };
}

/** The lines a worker prints at start: what it will take and what it leaves to other workers. */
export function describeCapabilities(
  c: WorkerCapabilities,
  queues: { queue: string; capability?: Capability }[],
): string[] {
  const lines = [`polls ${queues.map((q) => q.queue).join(', ')}`];
  for (const capability of CAPABILITIES) {
    if (!c.routed.has(capability))
      lines.push(`leaves ${capability} work to other workers: it needs ${CAPABILITY_NEEDS[capability]}`);
  }
  lines.push(
    `sandboxes: ${c.sandboxes.length ? c.sandboxes.join(', ') : 'none found (no bwrap, Docker engine or E2B_API_KEY)'}`,
  );
  return lines;
}
