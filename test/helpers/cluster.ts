/**
 * The two-node Temporal cluster of `npm run cluster` for tests: free ports, a temporary
 * directory, throwaway PostgreSQL, everything removed on stop.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { loadConfig, type NightshiftConfig } from '../../common/config';
import { freePort, POSTGRES_BIN } from '../../client/cluster/postgres';
import { freeNodePorts, startTemporalCluster, type TemporalCluster } from '../../client/cluster/temporal-cluster';

export type { TemporalCluster };

export async function startTestCluster(o: { storeDatabase?: string } = {}): Promise<TemporalCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-cluster-'));
  // PostgreSQL's own user must reach its data directory inside.
  chmodSync(dir, 0o755);
  return startTemporalCluster({
    dir,
    serverDir: loadConfig().temporalServerDir,
    namespace: 'default',
    postgresPort: await freePort(),
    nodes: [await freeNodePorts(), await freeNodePorts()],
    storeDatabase: o.storeDatabase,
    throwaway: true,
  });
}

/** One cluster for the calling test file, stopped after its tests. */
export function clusterForFile(o: { storeDatabase?: string } = {}): { readonly cluster: TemporalCluster } {
  let cluster: TemporalCluster | undefined;
  before(async () => {
    cluster = await startTestCluster(o);
  });
  after(async () => {
    await cluster?.stop();
  });
  return {
    get cluster() {
      if (!cluster) throw new Error('the cluster is not started yet; use it inside a test');
      return cluster;
    },
  };
}

/** A config whose NIGHTSHIFT_ROOT is a fresh temporary directory, connected to `address` of the cluster. */
export function clusterConfig(
  cluster: TemporalCluster,
  address = cluster.addresses[0],
  root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-test-')),
): NightshiftConfig {
  const base = loadConfig({ ...process.env, NIGHTSHIFT_ROOT: root });
  return { ...base, temporal: { ...base.temporal, address, namespace: cluster.namespace, connection: { address } } };
}

/**
 * How many server processes each service role has in the membership ring right now, from
 * the rows the nodes heartbeat into the shared database (role 1-4: frontend, history,
 * matching, worker).
 */
export function liveMembersByRole(cluster: TemporalCluster): Record<number, number> {
  const sql =
    "SELECT role, count(DISTINCT rpc_port) FROM cluster_membership WHERE last_heartbeat > (now() AT TIME ZONE 'utc') - interval '20 seconds' GROUP BY role ORDER BY role";
  const r = spawnSync(path.join(POSTGRES_BIN, 'psql'), [cluster.postgres.urlFor('temporal'), '-tAc', sql], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('|').map(Number)),
  );
}
