/**
 * `nightshift deploy status`: the Worker Deployment's current and ramping versions, how
 * many running workflows are pinned to each version, and which old versions are drained,
 * so their workers can stop (docs/operations.md, "Deploying during a night").
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { NightshiftConfig } from '../../common/config';
import { CliError, EXIT } from '../errors';
import { table } from '../format';
import { load } from '../lazy';

type Print = (s: string) => void;

export type VersionState = 'current' | 'ramping' | 'draining' | 'drained' | 'inactive';

export interface VersionStatus {
  buildId: string;
  state: VersionState;
  /** Running workflows pinned to this version: they finish on its workers. */
  pinnedRunning: number;
  /** No pinned workflow is left and none will be routed here: its workers can stop. */
  drained: boolean;
}

export interface DeployStatus {
  deployment: string;
  current?: string;
  ramping?: { buildId: string; percentage: number };
  versions: VersionStatus[];
}

/** temporal.api.enums.v1.WorkerDeploymentVersionStatus (the client does not re-export the enums). */
const VERSION_STATES: Record<number, VersionState> = {
  1: 'inactive',
  2: 'current',
  3: 'ramping',
  4: 'draining',
  5: 'drained',
};
/** temporal.api.enums.v1.VersionDrainageStatus.DRAINED */
const DRAINAGE_DRAINED = 2;
const GRPC_NOT_FOUND = 5;

export async function deployStatus(client: Client, deployment: string): Promise<DeployStatus> {
  const namespace = client.options.namespace;
  let info;
  try {
    info = (await client.workflowService.describeWorkerDeployment({ namespace, deploymentName: deployment }))
      .workerDeploymentInfo;
  } catch (err) {
    if ((err as { code?: number }).code === GRPC_NOT_FOUND) {
      throw new CliError(
        `no worker of deployment "${deployment}" has polled yet (NIGHTSHIFT_DEPLOYMENT_NAME; versioning off with NIGHTSHIFT_WORKER_VERSIONING=off?)`,
        EXIT.notFound,
      );
    }
    throw err;
  }
  const routing = info?.routingConfig;
  const versions: VersionStatus[] = [];
  for (const v of info?.versionSummaries ?? []) {
    const buildId = v.deploymentVersion?.buildId;
    if (!buildId) continue;
    const state = VERSION_STATES[v.status ?? 0] ?? 'inactive';
    // The version's search attribute value is "<deployment>:<build ID>"; both are restricted to [A-Za-z0-9._+-] (common/config.ts).
    const { count } = await client.workflow.count(
      `TemporalWorkerDeploymentVersion = '${deployment}:${buildId}' AND TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'`,
    );
    // The server's drainage check also waits out visibility lag; the count says what is left meanwhile.
    const drained = state === 'drained' && (v.drainageStatus ?? 0) === DRAINAGE_DRAINED && count === 0;
    versions.push({ buildId, state, pinnedRunning: count, drained });
  }
  const rampingId = routing?.rampingDeploymentVersion?.buildId;
  return {
    deployment,
    current: routing?.currentDeploymentVersion?.buildId ?? undefined,
    ...(rampingId ? { ramping: { buildId: rampingId, percentage: routing?.rampingVersionPercentage ?? 0 } } : {}),
    versions,
  };
}

export function renderDeployStatus(s: DeployStatus): string {
  const head = [
    `deployment ${s.deployment}`,
    `current    ${s.current ?? '(none: new workflows wait for a versioned worker to be made current)'}`,
    `ramping    ${s.ramping ? `${s.ramping.buildId} (${s.ramping.percentage} %)` : '-'}`,
  ];
  const rows = s.versions.map((v) => [
    v.buildId,
    v.state,
    String(v.pinnedRunning),
    v.drained ? 'yes: its workers can stop' : v.state === 'draining' ? 'not yet' : '-',
  ]);
  return `${head.join('\n')}\n\n${table(['VERSION', 'STATE', 'PINNED RUNNING', 'DRAINED'], rows)}`;
}

export function registerDeployCommands(program: Command, config: NightshiftConfig, print: Print): void {
  const deploy = program.command('deploy').description('worker versions during a deploy (Worker Versioning)');
  deploy
    .command('status')
    .description('current and ramping versions, workflows pinned to each, and which old versions are drained')
    .option('--json', 'print the status as JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await deployStatus(await load.temporal().connectClient(config), config.deployment.name);
      print(o.json ? JSON.stringify(s, null, 2) : renderDeployStatus(s));
    });
}
