/**
 * Worker Versioning (Worker Deployments): which deployment version a worker is, and, with
 * NIGHTSHIFT_DEPLOY_PROMOTE=auto, making that version the current one once it polls.
 * Which workflow types are pinned and which move is declared with the workflows
 * (workflows/index.ts).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import { NIGHTSHIFT_CHECKOUT } from '../common/checkout';
import type { DeploymentSettings } from '../common/config';

type DeploymentOptions = NonNullable<WorkerOptions['workerDeploymentOptions']>;

/** temporal.api.enums.v1.WorkerDeploymentVersionStatus DRAINING and DRAINED. */
const DRAINING = 4;
const DRAINED = 5;

/**
 * `<package version>+<commit>`: a new commit is a new version, so a deploy never runs new
 * workflow code against a pinned run of the old. Without a git checkout (an image built
 * from a tarball) the workflow bundle's own hash stands in for the commit.
 */
export function defaultBuildId(bundleCode: string): string {
  const { version } = JSON.parse(readFileSync(path.join(NIGHTSHIFT_CHECKOUT, 'package.json'), 'utf8')) as {
    version: string;
  };
  let commit: string;
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: NIGHTSHIFT_CHECKOUT,
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    })
      .toString()
      .trim();
  } catch {
    commit = `bundle-${createHash('sha256').update(bundleCode).digest('hex').slice(0, 12)}`;
  }
  return `${version}+${commit}`;
}

export function workerDeploymentOptions(
  settings: DeploymentSettings,
  bundleCode: string,
): DeploymentOptions | undefined {
  if (!settings.versioning) return undefined;
  return {
    version: { deploymentName: settings.name, buildId: settings.buildId ?? defaultBuildId(bundleCode) },
    useWorkerVersioning: true,
    // Every type declares its own behavior (workflows/index.ts); one that forgets stays on the code it started on.
    defaultVersioningBehavior: 'PINNED',
  };
}

/** How often a running worker looks again: a server that lost its state (a dev server restarted without its file) needs a current version again. */
const RECHECK_MS = 10_000;

/** A timer that does not keep a process alive whose worker has nothing else to do. */
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * With `promote: auto`, makes the worker's version current once the server has seen it
 * poll (before that the server answers "version not found"), and again if the server has
 * lost it; never for an old version that a newer one replaced. Ends when the worker stops;
 * a night started before promotion waits in the queue and is not lost.
 */
export async function promoteWhenPolling(o: {
  worker: Worker;
  client: Client;
  settings: DeploymentSettings;
  options: DeploymentOptions | undefined;
  say: (line: string) => void;
}): Promise<void> {
  if (!o.options || o.settings.promote !== 'auto') return;
  const { deploymentName, buildId } = o.options.version;
  const namespace = o.client.options.namespace;
  let failures = 0;
  let saidReplaced = false;
  for (;;) {
    const state = o.worker.getState();
    if (state !== 'INITIALIZED' && state !== 'RUNNING') return;
    let settled = false;
    if (state === 'RUNNING') {
      try {
        const d = await o.client.workflowService.describeWorkerDeployment({ namespace, deploymentName });
        const current = d.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion;
        const own = d.workerDeploymentInfo?.versionSummaries?.find((v) => v.deploymentVersion?.buildId === buildId);
        if (current?.buildId === buildId) {
          settled = true;
        } else if (own?.status === DRAINING || own?.status === DRAINED) {
          // A version that was replaced must not take over again because one of its workers
          // restarted (a crash during a rolling deploy); going back is the operator's call.
          if (!saidReplaced)
            o.say(
              `version ${deploymentName}:${buildId} was replaced by ${current?.buildId ?? 'another'}; not making it current again (set-current-version does, on purpose)`,
            );
          saidReplaced = settled = true;
        } else {
          await o.client.workflowService.setWorkerDeploymentCurrentVersion({
            namespace,
            deploymentName,
            buildId,
            conflictToken: d.conflictToken,
            // Other hosts may poll queues this host does not (per-host queues); a one-host deploy must not wait for them.
            ignoreMissingTaskQueues: true,
          });
          // The first version of a deployment becoming current is the ordinary start, not news.
          if (current?.buildId)
            o.say(
              `version ${deploymentName}:${buildId} is now current (was ${current.buildId}; workflows pinned to it finish there)`,
            );
          settled = true;
        }
        failures = 0;
      } catch (err) {
        // Not registered yet (the first poll is on its way), or another worker promoted concurrently: look again soon.
        if (++failures === 30)
          o.say(
            `cannot make ${deploymentName}:${buildId} current yet (${err instanceof Error ? err.message : String(err)}); still trying`,
          );
      }
    }
    await pause(settled ? RECHECK_MS : Math.min(200 * (failures + 1), 2000));
  }
}
